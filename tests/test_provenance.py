"""Provenance of the stored records: every record names a clean commit of this repository's history.

A record's ``provenance.git_commit`` (and every ``git_commit`` field anywhere in any ``*.json``
under ``results/``, sidecars included) must be a full commit id, not ``+dirty`` and not
``unknown``, that exists in this repository (``git cat-file -e <sha>^{commit}``) and is an
ancestor of ``HEAD`` (``git merge-base --is-ancestor <sha> HEAD``): then anyone can check out
the code that made it. Outside a git checkout (an sdist) or without git, the tests skip.

Also: :func:`kdlib.results.git_commit` on a throw-away repository, so ``+dirty`` means what
it should (tracked or untracked-not-ignored changes under ``kdlib/``; nothing else).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

import kdlib
from kdlib import results

ROOT = Path(__file__).resolve().parent.parent
SHA = re.compile(r"[0-9a-f]{40}")


def _git(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)


def _require_checkout() -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    top = _git("rev-parse", "--show-toplevel")
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != ROOT:
        pytest.skip(f"{ROOT} is not a git checkout (e.g. an sdist)")
    if _git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        pytest.skip("shallow clone: older commits are missing, fetch the full history to check provenance")


def _commit_fields(obj: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every ``git_commit`` value in a JSON document, with its path."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "git_commit":
                yield f"{where}/{k}", v
            else:
                yield from _commit_fields(v, f"{where}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _commit_fields(v, f"{where}[{i}]")


def commit_problem(value: Any) -> str | None:
    """Why ``value`` is not a clean commit of this repository's history (None when it is)."""
    if not isinstance(value, str):
        return f"not a string: {value!r}"
    if value.endswith("+dirty"):
        return f"made from uncommitted code ({value})"
    if not SHA.fullmatch(value):
        return f"not a full commit id: {value!r}"
    if _git("cat-file", "-e", f"{value}^{{commit}}").returncode != 0:
        return f"{value} is not a commit of this repository"
    if _git("merge-base", "--is-ancestor", value, "HEAD").returncode != 0:
        return f"{value} is not in the history of HEAD"
    return None


def test_stored_records_name_clean_commits_of_this_history() -> None:
    _require_checkout()
    files = sorted((ROOT / "results").rglob("*.json"))
    if not files:
        pytest.skip("no stored records under results/")
    problems = []
    for f in files:
        rel = f.relative_to(ROOT)
        try:
            doc = json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            problems.append(f"{rel}: unreadable ({exc})")
            continue
        found = list(_commit_fields(doc))
        if not found:
            problems.append(f"{rel}: no git_commit in its provenance")
        for where, value in found:
            why = commit_problem(value)
            if why:
                problems.append(f"{rel}{where}: {why}")
    assert not problems, f"{len(problems)} of the records' code versions are not clean commits:\n" + "\n".join(problems)


def test_stored_teachers_name_clean_commits_of_this_history() -> None:
    """The trained teachers stored beside the records (``results/**/*.pt``, :mod:`kdlib.teachers`)
    are evidence too: each names a clean commit of this history."""
    from kdlib.teachers import TeacherStore

    _require_checkout()
    files = sorted((ROOT / "results").rglob("*.pt"))
    if not files:
        pytest.skip("no stored teachers under results/")
    problems = []
    for f in files:
        rel = f.relative_to(ROOT)
        value = TeacherStore.read(f)["provenance"].get("git_commit")
        why = commit_problem(value)
        if why:
            problems.append(f"{rel}: {why}")
    assert not problems, "\n".join(problems)


def test_commit_problem_rejects_what_it_should() -> None:
    """The checker itself: HEAD passes; dirty, short, unknown and foreign ids fail."""
    _require_checkout()
    head = _git("rev-parse", "HEAD").stdout.strip()
    assert commit_problem(head) is None
    assert "uncommitted" in commit_problem(head + "+dirty")
    assert "full commit id" in commit_problem(head[:12])
    assert "full commit id" in commit_problem("unknown")
    assert "not a commit" in commit_problem("0" * 40)
    assert "not a string" in commit_problem(None)
    tree = _git("rev-parse", "HEAD^{tree}").stdout.strip()  # an object of the repository, but not a commit
    assert "not a commit" in commit_problem(tree)


# --------------------------------------------------------------------------- git_commit() on a temporary repository


@pytest.fixture()
def toy_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throw-away repository with ``kdlib/`` and ``results/``, and ``kdlib.__file__`` pointed into it."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "kdlib").mkdir()
    (tmp_path / "kdlib" / "__init__.py").write_text("x = 1\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "r.json").write_text("{}\n")
    (tmp_path / ".gitignore").write_text("__pycache__/\n")
    cfg = ("-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false")
    assert _git("init", "-q", cwd=tmp_path).returncode == 0
    assert _git("add", ".", cwd=tmp_path).returncode == 0
    assert _git(*cfg, "commit", "-q", "-m", "init", cwd=tmp_path).returncode == 0
    monkeypatch.setattr(kdlib, "__file__", str(tmp_path / "kdlib" / "__init__.py"))
    return tmp_path


def test_git_commit_clean_and_dirty(toy_repo: Path) -> None:
    head = _git("rev-parse", "HEAD", cwd=toy_repo).stdout.strip()
    assert SHA.fullmatch(head)
    assert results.git_commit() == head
    # changes under results/ (tracked or new) and ignored files under kdlib/ do not count
    (toy_repo / "results" / "r.json").write_text('{"a": 1}\n')
    (toy_repo / "results" / "new.json").write_text("{}\n")
    (toy_repo / "kdlib" / "__pycache__").mkdir()
    (toy_repo / "kdlib" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    assert results.git_commit() == head
    # an untracked new module under kdlib/ changes what code ran: dirty
    new = toy_repo / "kdlib" / "new_module.py"
    new.write_text("y = 2\n")
    assert results.git_commit() == head + "+dirty"
    new.unlink()
    assert results.git_commit() == head
    # so does an untracked module in a new sub-package
    (toy_repo / "kdlib" / "sub").mkdir()
    (toy_repo / "kdlib" / "sub" / "m.py").write_text("z = 3\n")
    assert results.git_commit() == head + "+dirty"
    shutil.rmtree(toy_repo / "kdlib" / "sub")
    # and a change to a tracked module
    (toy_repo / "kdlib" / "__init__.py").write_text("x = 2\n")
    assert results.git_commit() == head + "+dirty"


def test_git_commit_outside_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "kdlib").mkdir()
    (tmp_path / "kdlib" / "__init__.py").write_text("")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setattr(kdlib, "__file__", str(tmp_path / "kdlib" / "__init__.py"))
    assert results.git_commit() == "unknown"

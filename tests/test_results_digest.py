"""Digests of stored records: an edited or shortened record is refused with a message naming the
file and how to recompute it; ``--verify`` checks a whole store; ``--add-digests`` digests old
records without changing them and refuses records that fail their digest."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import types
from pathlib import Path

import pytest

from kdlib import results as R

ROOT = Path(__file__).resolve().parent.parent


def _toy(rows=3):
    def run(cfg):
        return R.RunOutput(rows=[{"i": i, "test_acc": 90.0 + i / 7} for i in range(cfg["n"])], seeds=[0], device="cpu")

    return types.SimpleNamespace(NAME="toy", run=run)


def _stored(tmp_path, n=3):
    store = R.ResultStore(tmp_path)
    rec = R.load_or_run(_toy(), {"n": n, "B": math.inf}, store=store)
    return store, store.path("toy", {"n": n, "B": math.inf}), rec


def test_a_record_carries_the_digest_of_what_is_read_back(tmp_path):
    store, path, rec = _stored(tmp_path)
    on_disk = json.loads(path.read_text())
    assert set(on_disk["digest"]) == {"config", "rows", "provenance"}
    back = store.load("toy", {"n": 3, "B": math.inf})
    assert back["digest"] == R.record_digest(back) == rec["digest"]


@pytest.mark.parametrize("edit, part", [
    (lambda r: r["rows"][1].__setitem__("test_acc", 89.18), "rows"),
    (lambda r: r["rows"].pop(), "rows"),
    (lambda r: r["rows"].clear(), "rows"),
    (lambda r: r["provenance"].__setitem__("git_commit", "0" * 40), "provenance"),
    (lambda r: r["config"].__setitem__("device", "cuda"), "config"),
])
def test_an_edited_record_is_refused_naming_the_file_and_how_to_recompute(tmp_path, edit, part):
    store, path, _ = _stored(tmp_path)
    rec = json.loads(path.read_text())
    edit(rec)
    path.write_text(json.dumps(rec, indent=1))
    with pytest.raises(R.StoreError) as info:
        store.load("toy", {"n": 3, "B": math.inf})
    msg = str(info.value)
    assert str(path) in msg and f"its {part}" in msg and "python -m kdlib.regenerate toy" in msg
    assert "\n" not in msg


def test_verify_prints_one_line_per_bad_file_and_exits_nonzero(tmp_path):
    store, path, _ = _stored(tmp_path)
    _, path2, _ = _stored(tmp_path, n=4)
    rec = json.loads(path.read_text())
    rec["rows"][0]["test_acc"] = 12.5
    path.write_text(json.dumps(rec))
    proc = subprocess.run([sys.executable, "-m", "kdlib.results", "--verify", "--root", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    bad = proc.stderr.strip().splitlines()
    assert len(bad) == 1 and str(path) in bad[0]
    assert "2 files checked" in proc.stdout and "1 bad" in proc.stdout
    path.unlink()
    assert R.verify(tmp_path) == (1, [])


def test_add_digests_digests_old_records_unchanged_and_refuses_mismatches(tmp_path):
    store, path, rec = _stored(tmp_path)
    _, path2, rec2 = _stored(tmp_path, n=2)
    old = {k: v for k, v in rec.items() if k != "digest"}
    path.write_text(json.dumps(R.encode_nonfinite(old), indent=1, sort_keys=True) + "\n")  # as the old code wrote it
    tampered = json.loads(path2.read_text())
    tampered["rows"][0]["test_acc"] = 1.0
    path2.write_text(json.dumps(tampered, indent=1, sort_keys=True) + "\n")
    before2 = path2.read_text()
    # while digests are required, a record without one is refused, naming the command that adds it
    with pytest.raises(R.StoreError, match="--add-digests"):
        R.check_record_digest(path, R.ResultStore.read(path, check_digest=False), require=True)
    assert len(R.verify(tmp_path)[1]) == 2
    changed, problems = R.add_digests(tmp_path)
    assert changed == [path]
    assert len(problems) == 1 and str(path2) in problems[0]
    assert path2.read_text() == before2  # refused: left alone
    again = R.ResultStore.read(path)
    assert {k: again[k] for k in old} == {k: rec[k] for k in old}
    assert again["digest"] == rec["digest"]
    assert R.add_digests(tmp_path) == ([], problems)


def test_regenerate_reads_the_configs_of_records_that_fail_their_digest(tmp_path):
    store, path, rec = _stored(tmp_path)
    bad = json.loads(path.read_text())
    bad["rows"][0]["test_acc"] = 0.0
    path.write_text(json.dumps(bad))
    with pytest.raises(R.StoreError):
        store.records("toy")
    assert [r["config"] for r in store.records("toy", check_digest=False)] == [rec["config"]]


def test_a_record_without_a_digest_is_refused_naming_the_command_that_adds_it(tmp_path):
    store, path, rec = _stored(tmp_path)
    old = {k: v for k, v in rec.items() if k != "digest"}
    path.write_text(json.dumps(R.encode_nonfinite(old)))
    with pytest.raises(R.StoreError, match=r"no digest.*python -m kdlib\.results --add-digests"):
        store.load("toy", {"n": 3, "B": math.inf})


def test_every_record_of_the_repository_store_has_a_matching_digest():
    checked, problems = R.verify(ROOT / "results")
    assert checked > 0 and problems == []


def test_a_sweep_client_refuses_a_worker_record_that_fails_its_digest(tmp_path):
    from kdlib.sweep import write_record_text

    store, path, rec = _stored(tmp_path / "worker")
    client = R.ResultStore(tmp_path / "client")
    cfg = {"n": 3, "B": math.inf}
    bad = dict(rec, rows=rec["rows"][:1])
    old = {k: v for k, v in rec.items() if k != "digest"}  # a worker running the code before digests
    for text in (R.dumps(bad), R.dumps(old)):
        with pytest.raises(R.StoreError, match="fails its digest"):
            write_record_text(client, "toy", cfg, text)
        assert not client.path("toy", cfg).exists()
    assert write_record_text(client, "toy", cfg, path.read_text())["rows"] == rec["rows"]


def test_the_verify_subcommand_reads_its_root(tmp_path):
    store, path, _ = _stored(tmp_path)
    assert R.verify_main(["--root", str(tmp_path)]) == 0
    path.write_text(path.read_text().replace("90.0", "91.0", 1))
    assert R.verify_main(["--root", str(tmp_path)]) == 1

"""The results store: one JSON record per (experiment, configuration).

A record lives at ``<root>/<experiment>/<key>.json`` where ``key`` is a hash of
the experiment name, the canonical JSON of its configuration (minus the fields
that only say *where* it runs, such as ``device``) and :data:`SCHEMA_VERSION`.
It holds the configuration, the result rows and the provenance (code version,
torch version, device, seeds, wall time, date, data source).

Writes are atomic (temporary file in the same folder, then ``os.replace``), so
a crash or Ctrl-C never leaves half a record. A file that does not parse, or
whose content does not hash to its name, raises :class:`StoreError` naming it.
A sweep is a list of configurations, one record each, so an interrupted sweep
resumes from the records it already wrote (:func:`load_or_run_many`).

The root is ``$KDLIB_RESULTS`` if set, else the ``results/`` folder next to the
``kdlib`` package (the repository's results store).

Records are strict JSON: a non-finite float (a radius ``B = inf``) is written as the
tagged object ``{"__float__": "inf"}`` (or ``"-inf"``, ``"nan"``) and decoded back to the
float when read, so the configuration hashes to the same key as before. Records written
with the older bare ``Infinity``/``NaN`` tokens are still read;
``python -m kdlib.results --reencode`` rewrites them in the strict form (content unchanged).

Digests: a record stores ``"digest": {"config": ..., "rows": ..., "provenance": ...}``, the sha256
of the canonical JSON (:func:`canonical`) of each part. The key proves that the configuration
belongs to the file name; the digests prove that the numbers and the provenance are the ones
the code wrote: a record whose rows were edited, shortened or deleted by hand is a
:class:`StoreError` naming the file and how to recompute it. ``python -m kdlib.results --verify``
checks a whole store (and its trained teachers), one line per bad file, exit status 1 on any;
``python -m kdlib.results --add-digests`` adds the digest to records written before it existed
(without touching a record whose digest is there and does not match).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

import torch

import kdlib

SCHEMA_VERSION = 1
RESULTS_ENV = "KDLIB_RESULTS"
#: Config fields that choose where and how fast a run happens, not what it computes; they
#: are kept in the record's provenance but left out of the key. ``precision`` (float32 or
#: bf16 autocast, kdlib.train_cnn) is treated as the thread count is: it changes a run's
#: trajectory (bf16 and float32 nets of Chapter 7 differed by up to 2.6 points, within the
#: spread between runs), so a record regenerates within tolerance in its own precision, which
#: ``kdlib.registry.config_from_record`` reads from the provenance.
NON_KEY_FIELDS = frozenset({"device", "progress", "precision"})
#: Config fields left out of the key while they hold the value given here: fields added after
#: records existed, whose value here reproduces what those records computed, so that the records
#: keep their keys (``first_run``, :class:`kdlib.experiments.deep.Config`: runs counted from 0).
KEY_OMITTED_AT: dict[str, Any] = {"first_run": 0}


class StoreError(RuntimeError):
    """A record in the store is unreadable or does not match its name."""


#: The parts of a record that its ``digest`` covers (the key covers the configuration's key fields).
DIGEST_PARTS = ("config", "rows", "provenance")
#: Reading a record without a digest is an error (records written before digests existed get
#: theirs from ``python -m kdlib.results --add-digests``).
REQUIRE_DIGEST = True
ADD_DIGESTS_COMMAND = "python -m kdlib.results --add-digests"


class Experiment(Protocol):
    NAME: str

    def run(self, config: Any) -> "RunOutput": ...


@dataclasses.dataclass
class RunOutput:
    """What an experiment's ``run`` returns: tidy rows plus provenance extras."""

    rows: list[dict[str, Any]]
    seeds: list[int]
    device: str
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


def default_root() -> Path:
    env = os.environ.get(RESULTS_ENV)
    if env:
        return Path(env).expanduser()
    return Path(kdlib.__file__).resolve().parent.parent / "results"


def config_dict(config: Any) -> dict[str, Any]:
    """The configuration as a plain dict (dataclass or mapping)."""
    if dataclasses.is_dataclass(config):
        d = dataclasses.asdict(config)
    elif isinstance(config, dict):
        d = dict(config)
    else:
        raise TypeError(f"a config must be a dataclass or a dict, got {type(config).__name__}")
    return json.loads(json.dumps(d, sort_keys=True, default=_json_default))


def key_fields(config: Any) -> dict[str, Any]:
    """The fields the key covers: all but :data:`NON_KEY_FIELDS`, and those of :data:`KEY_OMITTED_AT`
    at their stated value."""
    return {k: v for k, v in config_dict(config).items()
            if k not in NON_KEY_FIELDS and not (k in KEY_OMITTED_AT and v == KEY_OMITTED_AT[k])}


def _json_default(o: Any) -> Any:
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, torch.device):
        return str(o)
    raise TypeError(f"cannot store a {type(o).__name__} in a config")


FLOAT_TAG = "__float__"
_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def encode_nonfinite(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by ``{"__float__": "inf" | "-inf" | "nan"}``."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return {FLOAT_TAG: "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")}
    if isinstance(obj, dict):
        return {k: encode_nonfinite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [encode_nonfinite(v) for v in obj]
    return obj


def _decode_hook(d: dict[str, Any]) -> Any:
    if len(d) == 1 and FLOAT_TAG in d and d[FLOAT_TAG] in _NONFINITE:
        return _NONFINITE[d[FLOAT_TAG]]
    return d


def loads(text: str) -> Any:
    """Parse a record: strict JSON with tagged non-finite floats, or the older bare ``Infinity``/``NaN``."""
    return json.loads(text, object_hook=_decode_hook)


def dumps(obj: Any) -> str:
    """A record as strict JSON (``allow_nan=False``; non-finite floats tagged), indented, keys sorted."""
    return json.dumps(encode_nonfinite(obj), indent=1, sort_keys=True, allow_nan=False)


def canonical(obj: Any) -> str:
    """The canonical JSON of ``obj``: keys sorted, no spaces, non-finite floats tagged (so a value
    read back from a record gives the same text as the one written)."""
    return json.dumps(encode_nonfinite(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def record_digest(record: dict[str, Any]) -> dict[str, str]:
    """``{part: sha256(canonical(record[part]))}`` for the parts of :data:`DIGEST_PARTS`."""
    return {part: hashlib.sha256(canonical(record[part]).encode()).hexdigest() for part in DIGEST_PARTS}


def recompute_hint(path: Path, experiment: Any = None) -> str:
    """How to recompute the record at ``path``: delete it and rerun, or regenerate its experiment."""
    name = experiment if isinstance(experiment, str) and experiment else Path(path).parent.name
    return (f"Recompute it: delete the file and rerun the chapter, "
            f"or run `python -m kdlib.regenerate {name}`.")


def config_key(experiment: str, config: Any) -> str:
    """sha256 of experiment name, canonical key fields and schema version, 20 hex digits."""
    payload = json.dumps(
        {"experiment": experiment, "config": key_fields(config), "schema": SCHEMA_VERSION},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def git_commit() -> str:
    """The repository's HEAD commit, with ``+dirty`` when the code under ``kdlib/`` differs from it
    (changes to tracked files, or untracked files that ``.gitignore`` does not exclude, e.g. a new
    module not yet committed); changes elsewhere (``results/``) do not count. ``unknown`` outside git."""
    repo = Path(kdlib.__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", "--", "kdlib"], cwd=repo, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not head:
        return "unknown"
    return head + ("+dirty" if dirty else "")


def device_name(device: str | torch.device) -> str:
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    threads = torch.get_num_threads()
    return (f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{threads} thread{'s' if threads != 1 else ''})")


def recorded_threads(record: dict[str, Any]) -> int | None:
    """The number of CPU threads that computed ``record``, read off its provenance's device name
    (``"cpu (x86_64, 2 cores, 1 thread)"`` -> 1; older records say ``"1 threads"``); None for a
    GPU record or a name without it. A regeneration on the CPU uses as many threads, since the
    thread count changes the order of float sums."""
    import re

    m = re.search(r"(\d+) threads?\)\s*$", str(record.get("provenance", {}).get("device", "")))
    return int(m.group(1)) if m else None


def _finite(obj: Any) -> Any:
    """Replace NaN/inf by None so the JSON is standard."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj



def atomic_write(path: Path, write: Callable[[Any], None], *, binary: bool = False, mode_bits: int | None = None) -> None:
    """Write ``path`` all at once: ``write(fh)`` fills a temporary file in the same folder, which is
    flushed, synced and renamed over ``path``; on any exception (Ctrl-C included) the temporary file is
    removed and ``path`` is left as it was. Permissions: ``mode_bits``, else 0o666 less the umask."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if mode_bits is None:
            umask = os.umask(0)
            os.umask(umask)
            mode_bits = 0o666 & ~umask
        os.chmod(tmp, mode_bits)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise

class ResultStore:
    """A folder of JSON records, one per (experiment, configuration)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    def path(self, experiment: str, config: Any) -> Path:
        return self.root / experiment / f"{config_key(experiment, config)}.json"

    def load(self, experiment: str, config: Any) -> dict[str, Any] | None:
        """The stored record, or None. Raises StoreError on a bad file."""
        p = self.path(experiment, config)
        if not p.exists():
            return None
        return self.read(p, expect=(experiment, config))

    @staticmethod
    def read(path: Path, expect: tuple[str, Any] | None = None, *, check_digest: bool = True) -> dict[str, Any]:
        """Read and validate one record file: it parses, its content hashes to its name, and (with
        ``check_digest``) its configuration, rows and provenance match its digest."""
        try:
            record = loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreError(f"results record {path} cannot be read ({type(exc).__name__}: {exc}). "
                             f"{recompute_hint(path)}") from None
        if not isinstance(record, dict) or not {"experiment", "config", "rows", "provenance", "schema"} <= set(record):
            raise StoreError(f"results record {path} lacks experiment/config/rows/provenance/schema. {recompute_hint(path)}")
        try:
            key = config_key(record["experiment"], record["config"])
        except (TypeError, AttributeError) as exc:
            raise StoreError(f"results record {path}: its config is not a mapping ({exc}). {recompute_hint(path)}") from exc
        if record.get("schema") != SCHEMA_VERSION or key != Path(path).stem:
            raise StoreError(
                f"results record {path}: its content hashes to {key} (schema {record.get('schema')}), "
                f"not to its file name. It was edited or belongs elsewhere; delete it to recompute."
            )
        if expect is not None:
            exp_name, exp_cfg = expect
            if record["experiment"] != exp_name or key_fields(record["config"]) != key_fields(exp_cfg):
                raise StoreError(f"results record {path} holds a different experiment or configuration")
        if check_digest:
            check_record_digest(path, record)
        return record

    def save(self, experiment: str, config: Any, out: RunOutput, wall_time_s: float) -> dict[str, Any]:
        """Write a record atomically and return it."""
        record = {
            "experiment": experiment,
            "schema": SCHEMA_VERSION,
            "key": config_key(experiment, config),
            "config": config_dict(config),
            "rows": _finite(out.rows),
            "provenance": {
                "kdlib_version": kdlib.__version__,
                "git_commit": git_commit(),
                "torch_version": torch.__version__,
                "python": platform.python_version(),
                "device": device_name(out.device),
                "seeds": list(out.seeds),
                "wall_time_s": round(float(wall_time_s), 3),
                "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                **_finite(out.extra),
            },
        }
        record = loads(canonical(record))  # as it will be read back: the digest is of that
        record["digest"] = record_digest(record)
        atomic_write(self.path(experiment, config), lambda fh: fh.write(dumps(record) + "\n"))
        return record

    def records(self, experiment: str, *, check_digest: bool = True) -> list[dict[str, Any]]:
        """Every valid record of an experiment (raises on a bad one). ``check_digest=False`` reads
        records whose numbers fail their digest too (their configuration still hashes to the
        name), for recomputing them."""
        folder = self.root / experiment
        if not folder.exists():
            return []
        return [self.read(p, check_digest=check_digest) for p in sorted(folder.glob("*.json"))]


def check_record_digest(path: Path, record: dict[str, Any], *, require: bool | None = None) -> None:
    """Raise :class:`StoreError` when ``record`` (read from ``path``) does not match its digest,
    or has none while digests are required (``require``, default :data:`REQUIRE_DIGEST`)."""
    digest = record.get("digest")
    if digest is None:
        if REQUIRE_DIGEST if require is None else require:
            raise StoreError(
                f"results record {path} has no digest of its rows (written before digests existed?): "
                f"run `{ADD_DIGESTS_COMMAND}` if you trust it, else delete it to recompute."
            )
        return
    if not isinstance(digest, dict):
        raise StoreError(f"results record {path}: its digest is not a mapping. {recompute_hint(path, record.get('experiment'))}")
    try:
        expected = record_digest(record)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"results record {path}: its content cannot be digested ({exc}). "
                         f"{recompute_hint(path, record.get('experiment'))}") from exc
    bad = [part for part in DIGEST_PARTS if digest.get(part) != expected[part]]
    if bad:
        raise StoreError(
            f"results record {path}: its {' and '.join(bad)} do not match the digest stored with them "
            f"(edited by hand or damaged). {recompute_hint(path, record.get('experiment'))}"
        )


def load_or_run(
    experiment: Experiment,
    config: Any,
    *,
    store: ResultStore | None = None,
    recompute: bool = False,
) -> dict[str, Any]:
    """The stored record for ``config``, computing and storing it if missing.

    ``experiment`` is a module (or object) with ``NAME`` and ``run(config) -> RunOutput``.
    """
    store = store or ResultStore()
    if not recompute:
        rec = store.load(experiment.NAME, config)
        if rec is not None:
            return rec
    t0 = time.perf_counter()
    out = experiment.run(config)
    return store.save(experiment.NAME, config, out, time.perf_counter() - t0)


def load_or_run_many(
    experiment: Experiment,
    configs: Iterable[Any],
    *,
    store: ResultStore | None = None,
    recompute: bool = False,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """:func:`load_or_run` over a sweep; stored configs are skipped, so a sweep resumes."""
    out = []
    for cfg in configs:
        rec = load_or_run(experiment, cfg, store=store, recompute=recompute)
        if on_record is not None:
            on_record(rec)
        out.append(rec)
    return out


def rows(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """All rows of several records, flattened."""
    return [r for rec in records for r in rec["rows"]]


def reencode(root: str | Path | None = None) -> list[Path]:
    """Rewrite every record under ``root`` whose file is not strict JSON (bare ``Infinity``/``NaN``)
    in the strict encoding, atomically; the content and the key do not change (each rewritten
    record is read back and validated). Returns the rewritten paths."""
    store = ResultStore(root)
    changed = []
    for p in sorted(store.root.rglob("*.json")):
        text = p.read_text()
        record = ResultStore.read(p)
        new = dumps(record) + "\n"
        if new == text:
            continue
        try:
            json.loads(text, parse_constant=_reject_constant)
            continue  # already strict JSON: leave the bytes alone
        except ValueError:
            pass
        atomic_write(p, lambda fh: fh.write(new), mode_bits=p.stat().st_mode & 0o777)
        again = ResultStore.read(p)
        if key_fields(again["config"]) != key_fields(record["config"]) or again["rows"] != record["rows"]:
            raise StoreError(f"re-encoding {p} changed its content")
        changed.append(p)
    return changed


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def record_files(root: str | Path | None = None) -> list[Path]:
    """Every record file (``*.json``) under ``root`` (default: the store's root)."""
    return sorted(ResultStore(root).root.rglob("*.json"))


def add_digests(root: str | Path | None = None) -> tuple[list[Path], list[str]]:
    """Add the digest to every record under ``root`` that has none, atomically, without changing
    anything else (each rewritten record is read back, checked against its digest, and compared
    with the old content). A record that does not read (bad JSON, wrong name) or whose digest is
    there and does not match is left alone and reported. Returns (rewritten paths, problems)."""
    changed: list[Path] = []
    problems: list[str] = []
    for p in record_files(root):
        try:
            record = ResultStore.read(p, check_digest=False)
            if "digest" in record:
                check_record_digest(p, record)
                continue
        except StoreError as exc:
            problems.append(str(exc))
            continue
        new = dict(record, digest=record_digest(record))
        text = dumps(new) + "\n"
        atomic_write(p, lambda fh: fh.write(text), mode_bits=p.stat().st_mode & 0o777)
        again = ResultStore.read(p, check_digest=True)
        if any(canonical(again[k]) != canonical(record[k]) for k in record):
            raise StoreError(f"adding the digest to {p} changed its content")
        changed.append(p)
    return changed, problems


def verify(root: str | Path | None = None, *, require: bool = True) -> tuple[int, list[str]]:
    """Check every record under ``root`` (it parses, hashes to its name, matches its digest; with
    ``require`` a missing digest is a problem too) and every trained teacher under
    ``root/teachers`` (:meth:`kdlib.teachers.TeacherStore.read`: name and weight checksums).
    Returns (files checked, one line per bad file)."""
    from kdlib.teachers import FOLDER, TeacherStore, TeacherStoreError

    base = ResultStore(root).root
    if not base.is_dir():
        return 0, [f"{base}: no results store there (a folder; set {RESULTS_ENV} or pass --root)"]
    problems: list[str] = []
    files = record_files(base)
    for p in files:
        try:
            record = ResultStore.read(p, check_digest=False)
            check_record_digest(p, record, require=require)
        except StoreError as exc:
            problems.append(str(exc))
    teachers = sorted((base / FOLDER).glob("*.pt"))
    for p in teachers:
        try:
            TeacherStore.read(p)
        except TeacherStoreError as exc:
            problems.append(str(exc))
    return len(files) + len(teachers), problems


def main(argv: list[str] | None = None) -> int:
    """``python -m kdlib.results --verify | --add-digests | --reencode [--root FOLDER]``."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m kdlib.results", description="Maintenance of the results store.")
    parser.add_argument("--verify", action="store_true",
                        help="check every record (name, digest) and teacher (checksums); exit 1 on any bad file")
    parser.add_argument("--add-digests", action="store_true",
                        help="add the digest to records that lack one (refuses records whose digest mismatches)")
    parser.add_argument("--reencode", action="store_true",
                        help="rewrite records holding bare Infinity/NaN as strict JSON (content and keys unchanged)")
    parser.add_argument("--root", default=None, help=f"store folder (default: ${RESULTS_ENV} or the repository's results/)")
    args = parser.parse_args(argv)
    status = 0
    if args.reencode:
        for p in reencode(args.root):
            print(f"re-encoded {p}")
    if args.add_digests:
        changed, problems = add_digests(args.root)
        for p in changed:
            print(f"digest added: {p}")
        for line in problems:
            print(line, file=sys.stderr)
        print(f"{len(changed)} records given a digest, {len(problems)} refused")
        status = max(status, 1 if problems else 0)
    if args.verify:
        return max(status, verify_command(args.root))
    if not (args.reencode or args.add_digests):
        parser.print_help()
    return status


def verify_main(argv: list[str] | None = None, prog: str = "python -m kdlib verify") -> int:
    """The ``verify`` subcommand: ``[--root FOLDER]``; exit status 1 if any file is bad."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description="Check every record (name, digest) and trained "
                                     "teacher (checksums) of a results store; one line per bad file.")
    parser.add_argument("--root", default=None, help=f"store folder (default: ${RESULTS_ENV} or the repository's results/)")
    return verify_command(parser.parse_args(argv).root)


def verify_command(root: str | Path | None = None) -> int:
    """Print one line per bad file of the store at ``root`` and a summary; 1 if any, else 0."""
    import sys

    checked, problems = verify(root)
    for line in problems:
        print(line, file=sys.stderr)
    where = ResultStore(root).root
    print(f"{checked} files checked in {where}: {len(problems)} bad" + ("" if problems else ", all match their digests"))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

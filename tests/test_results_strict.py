"""Every stored record is strict JSON (no bare Infinity/NaN), and non-finite floats round-trip
with the same record key as the old encoding."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kdlib import results as R

ROOT = Path(__file__).resolve().parent.parent / "results"


def _reject(name):
    raise ValueError(f"non-standard JSON constant {name}")


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.json")), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_stored_record_is_strict_json_and_verifies(path: Path):
    json.loads(path.read_text(), parse_constant=_reject)
    R.ResultStore.read(path)  # the content hashes to the file name


def test_nonfinite_roundtrip_keeps_the_key_and_reads_old_records(tmp_path: Path):
    cfg = {"B": math.inf, "low": -math.inf, "x": 1.0}
    out = R.RunOutput(rows=[{"v": 1.0}], seeds=[0], device="cpu")
    store = R.ResultStore(tmp_path)
    rec = store.save("demo", cfg, out, 0.1)
    text = store.path("demo", cfg).read_text()
    json.loads(text, parse_constant=_reject)
    assert '"__float__": "inf"' in text and '"__float__": "-inf"' in text
    back = store.load("demo", cfg)
    assert back["config"]["B"] == math.inf and back["config"]["low"] == -math.inf
    # the key is the one the old encoding (bare Infinity in the hash payload) gave
    payload = json.dumps({"experiment": "demo", "config": cfg, "schema": R.SCHEMA_VERSION},
                         sort_keys=True, separators=(",", ":"))
    import hashlib

    assert rec["key"] == hashlib.sha256(payload.encode()).hexdigest()[:20] == store.path("demo", cfg).stem
    # an old record (bare Infinity) is still read, and --reencode makes it strict without changing it
    old = store.path("demo", cfg)
    old.write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
    assert "Infinity" in old.read_text()
    assert store.load("demo", cfg)["config"]["B"] == math.inf
    assert R.reencode(tmp_path) == [old]
    json.loads(old.read_text(), parse_constant=_reject)
    assert store.load("demo", cfg)["rows"] == rec["rows"]
    assert R.reencode(tmp_path) == []

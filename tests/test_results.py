"""kdlib.results: the store round-trips, rejects bad files, writes atomically, resumes sweeps."""
from __future__ import annotations

import dataclasses
import json
import types

import pytest
import torch

from kdlib import results as R


@dataclasses.dataclass(frozen=True)
class Cfg:
    n: int = 3
    lr: float = 0.5
    device: str = "cpu"


def _experiment(calls):
    def run(cfg):
        calls.append(cfg)
        return R.RunOutput(rows=[{"i": i, "v": cfg.lr * i} for i in range(cfg.n)], seeds=[0], device="cpu", extra={"data": "toy"})

    return types.SimpleNamespace(NAME="toy", run=run)


def test_round_trip_and_provenance(tmp_path):
    calls = []
    exp = _experiment(calls)
    store = R.ResultStore(tmp_path)
    rec = R.load_or_run(exp, Cfg(), store=store)
    again = R.load_or_run(exp, Cfg(), store=store)
    assert len(calls) == 1
    assert again["rows"] == rec["rows"] == [{"i": i, "v": 0.5 * i} for i in range(3)]
    prov = again["provenance"]
    for key in ("kdlib_version", "git_commit", "torch_version", "device", "seeds", "wall_time_s", "date", "data"):
        assert key in prov
    assert (tmp_path / "toy" / f"{R.config_key('toy', Cfg())}.json").exists()
    assert not list((tmp_path / "toy").glob(".*.tmp"))


def test_key_depends_on_config_but_not_device():
    assert R.config_key("toy", Cfg()) == R.config_key("toy", Cfg(device="cuda"))
    assert R.config_key("toy", Cfg()) != R.config_key("toy", Cfg(lr=0.25))
    assert R.config_key("toy", Cfg()) != R.config_key("other", Cfg())


def test_corrupted_record_is_an_error_naming_the_file(tmp_path):
    exp = _experiment([])
    store = R.ResultStore(tmp_path)
    R.load_or_run(exp, Cfg(), store=store)
    path = store.path("toy", Cfg())
    path.write_text(path.read_text()[:-20])
    with pytest.raises(R.StoreError, match=str(path.name)):
        store.load("toy", Cfg())


def test_edited_record_no_longer_matches_its_name(tmp_path):
    exp = _experiment([])
    store = R.ResultStore(tmp_path)
    R.load_or_run(exp, Cfg(), store=store)
    path = store.path("toy", Cfg())
    rec = json.loads(path.read_text())
    rec["config"]["lr"] = 0.75  # someone edits the config by hand
    path.write_text(json.dumps(rec))
    with pytest.raises(R.StoreError, match="hashes to"):
        store.load("toy", Cfg())


def test_crash_during_run_leaves_nothing(tmp_path):
    def boom(cfg):
        raise KeyboardInterrupt

    store = R.ResultStore(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        R.load_or_run(types.SimpleNamespace(NAME="toy", run=boom), Cfg(), store=store)
    assert not (tmp_path / "toy").exists() or not list((tmp_path / "toy").iterdir())


def test_crash_during_write_leaves_no_partial_file(tmp_path, monkeypatch):
    store = R.ResultStore(tmp_path)

    def fail_dump(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(R, "dumps", fail_dump)  # the record is serialised after the temporary file is open
    with pytest.raises(KeyboardInterrupt):
        R.load_or_run(_experiment([]), Cfg(), store=store)
    assert list((tmp_path / "toy").iterdir()) == []


def test_interrupted_sweep_resumes(tmp_path):
    calls = []
    exp = _experiment(calls)
    store = R.ResultStore(tmp_path)
    configs = [Cfg(lr=v) for v in (0.1, 0.2, 0.3, 0.4)]

    def interrupt_after_two(rec):
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        R.load_or_run_many(exp, configs, store=store, on_record=interrupt_after_two)
    assert len(calls) == 2
    recs = R.load_or_run_many(exp, configs, store=store)
    assert len(calls) == 4  # only the two missing ones ran
    assert [r["config"]["lr"] for r in recs] == [0.1, 0.2, 0.3, 0.4]


def test_recorded_threads_reads_the_device_name():
    from kdlib.results import device_name, recorded_threads

    assert recorded_threads({"provenance": {"device": "cpu (x86_64, 2 cores, 1 thread)"}}) == 1
    assert recorded_threads({"provenance": {"device": "cpu (x86_64, 2 cores, 1 threads)"}}) == 1
    assert recorded_threads({"provenance": {"device": "cpu (x86_64, 16 cores, 12 threads)"}}) == 12
    assert recorded_threads({"provenance": {"device": "NVIDIA H200"}}) is None
    assert recorded_threads({}) is None
    assert recorded_threads({"provenance": {"device": device_name("cpu")}}) == torch.get_num_threads()

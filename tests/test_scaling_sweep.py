"""Chapter 6 computes its records through kdlib.sweep with an `executor` parameter, and with it
finds every stored record without starting a cluster (the executor is no part of a key).

The chapter's parameters cell, the cell that builds its configurations and the cell that calls
``run_sweep`` are executed as papermill would run them, with ``executor`` set to a scheduler
address where nothing listens: a record the store lacked would have to be computed there, and
the sweep would fail.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdlib.results import config_key

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "book" / "06_neuron_scaling.ipynb"
UNREACHABLE = "tcp://127.0.0.1:9"


def _code_cells() -> list[dict]:
    return [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]


def _src(cell: dict) -> str:
    return "".join(cell["source"])


def test_chapter6_has_an_executor_parameter_and_no_loop_of_its_own():
    from papermill.inspection import _infer_parameters
    from papermill.iorw import load_notebook_node

    params = {p.name: p for p in _infer_parameters(load_notebook_node(str(NOTEBOOK)))}
    assert "executor" in params and params["executor"].default == '"local"'
    sources = [_src(c) for c in _code_cells()]
    assert not any("load_or_run" in s for s in sources), "a record loaded around kdlib.sweep"
    sweeps = [s for s in sources if "run_sweep(" in s]
    assert len(sweeps) == 1 and sweeps[0].count("executor=executor") == sweeps[0].count("run_sweep(") == 3


def test_chapter6_finds_every_stored_record_through_its_sweeps(monkeypatch):
    import dask.config
    import distributed  # noqa: F401  (its defaults must be in dask's config before config.set,
    # whose exit would otherwise drop the whole 'distributed' section that the import adds inside it)

    import kdlib.sweep

    monkeypatch.delenv("KDLIB_DASK_SCHEDULER", raising=False)
    monkeypatch.delenv("KDLIB_RESULTS", raising=False)  # the repository's store
    started = []
    real = kdlib.sweep._run_on_dask
    monkeypatch.setattr(kdlib.sweep, "_run_on_dask", lambda *a, **k: started.append(a) or real(*a, **k))
    cells = _code_cells()
    params = next(c for c in cells if "parameters" in c["metadata"].get("tags", []))
    setup = [c for c in cells if "from kdlib.sweep import" in _src(c)]
    sweep = [c for c in cells if "run_sweep(" in _src(c) and c not in setup]
    ns: dict = {"display": lambda *a, **k: None}
    with dask.config.set({"distributed.comm.timeouts.connect": "5s"}):
        exec(_src(params), ns)
        ns["executor"] = UNREACHABLE  # as `papermill -p executor tcp://127.0.0.1:9` injects it
        for cell in setup + sweep:
            exec(_src(cell), ns)
    assert started == []  # every record was in the store: no scheduler was contacted
    for recs, cfgs in ((ns["gamma_records"], ns["gamma_configs"]), (ns["floor_records"], ns["floor_configs"]),
                       (ns["records"], ns["configs"])):
        assert len(recs) == len(cfgs) > 0
        for rec, cfg in zip(recs, cfgs):
            assert rec["key"] == config_key(rec["experiment"], cfg) and "provenance" in rec


def test_a_missing_record_would_go_to_the_executor(tmp_path, monkeypatch):
    """The same cells on an empty store do reach the executor (so the test above has power)."""
    import dask.config
    import distributed  # noqa: F401  (its defaults must be in dask's config before config.set,
    # whose exit would otherwise drop the whole 'distributed' section that the import adds inside it)

    from kdlib.sweep import SweepError

    monkeypatch.delenv("KDLIB_DASK_SCHEDULER", raising=False)
    monkeypatch.setenv("KDLIB_RESULTS", str(tmp_path))
    cells = _code_cells()
    params = next(c for c in cells if "parameters" in c["metadata"].get("tags", []))
    setup = [c for c in cells if "from kdlib.sweep import" in _src(c)]
    sweep = next(c for c in cells if "run_sweep(" in _src(c) and c not in setup)
    ns: dict = {}
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        exec(_src(params), ns)
        ns["executor"] = UNREACHABLE
        for cell in setup:
            exec(_src(cell), ns)
        with pytest.raises((OSError, SweepError, TimeoutError)):
            exec(_src(sweep), ns)
    assert not any(tmp_path.rglob("*.json"))

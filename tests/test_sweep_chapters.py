"""Chapters 1-7 compute their records through kdlib.sweep with an `executor` parameter,
and with it they still find every stored record (the executor is no part of a key).

Each chapter's parameters cell, the cell that builds its configurations and the cells that
call ``run_sweep``/``run_sweeps`` are executed as papermill would run them, with
``executor`` set to a scheduler address where nothing listens: a record that the store
lacked would have to be computed there, and the sweep would fail.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdlib.results import config_key

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ["01_motivation", "02_kernel", "03_margin", "04_soft_labels", "05_hard_labels",
            "06_neuron_scaling", "07_deep_networks"]
UNREACHABLE = "tcp://127.0.0.1:9"
#: chapter -> (records variable, configurations variable) after its sweeps
RESULTS = {
    "01_motivation": [("records", "configs"), ("curve", "curve_configs"), ("sweep_records", "sweep")],
    "02_kernel": [("records", "configs")],
    "03_margin": [("size_recs", "size_cfgs"), ("noise_recs", "noise_cfgs"), ("support_recs", "support_cfgs"),
                  ("teacher", "teacher_cfg")],
    "04_soft_labels": [("records", "configs")],
    "05_hard_labels": [("records", "configs")],
    "06_neuron_scaling": [("gamma_records", "gamma_configs"), ("floor_records", "floor_configs"),
                          ("records", "configs")],
    "07_deep_networks": [("measurements", "grid"), ("records", "configs")],
}


def _code_cells(name: str) -> list[dict]:
    nb = json.loads((ROOT / "book" / f"{name}.ipynb").read_text())
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _src(cell: dict) -> str:
    return "".join(cell["source"])


@pytest.mark.parametrize("name", CHAPTERS)
def test_the_chapter_has_an_executor_parameter_and_no_loop_of_its_own(name):
    from papermill.inspection import _infer_parameters
    from papermill.iorw import load_notebook_node

    params = {p.name: p for p in _infer_parameters(load_notebook_node(str(ROOT / "book" / f"{name}.ipynb")))}
    assert "executor" in params and params["executor"].default == '"local"'
    sources = [_src(c) for c in _code_cells(name)]
    assert not any("load_or_run" in s for s in sources), "a record loaded around kdlib.sweep"
    sweeps = [s for s in sources if "run_sweep(" in s or "run_sweeps(" in s]
    assert sweeps and all("executor=executor" in s for s in sweeps)


@pytest.mark.parametrize("name", CHAPTERS)
def test_the_chapter_finds_every_stored_record_through_its_sweeps(name, monkeypatch):
    import dask.config
    import distributed  # noqa: F401  (its defaults must be in dask's config before config.set,
    # whose exit would otherwise drop the whole 'distributed' section that the import adds inside it)

    import kdlib.sweep

    monkeypatch.delenv("KDLIB_DASK_SCHEDULER", raising=False)
    monkeypatch.delenv("KDLIB_RESULTS", raising=False)  # the repository's store
    started = []
    real = kdlib.sweep._run_on_dask
    monkeypatch.setattr(kdlib.sweep, "_run_on_dask", lambda *a, **k: started.append(a) or real(*a, **k))
    cells = _code_cells(name)
    params = next(c for c in cells if "parameters" in c["metadata"].get("tags", []))
    first_sweep = next(i for i, c in enumerate(cells) if "run_sweep" in _src(c) and "import" not in _src(c))
    setup = [c for c in cells[:first_sweep] if "from kdlib.sweep import" in _src(c)]
    sweeps = [c for c in cells if ("run_sweep(" in _src(c) or "run_sweeps(" in _src(c)) and c not in setup]
    ns: dict = {"display": lambda *a, **k: None}
    with dask.config.set({"distributed.comm.timeouts.connect": "5s"}):
        exec(_src(params), ns)
        ns["executor"] = UNREACHABLE  # as `papermill -p executor tcp://127.0.0.1:9` injects it
        for cell in setup + sweeps:
            exec(_src(cell), ns)
    assert started == []  # every record was in the store: no scheduler was contacted
    for recs_name, cfgs_name in RESULTS[name]:
        recs, cfgs = ns[recs_name], ns[cfgs_name]
        recs = recs if isinstance(recs, list) else [recs]
        cfgs = cfgs if isinstance(cfgs, list) else [cfgs]
        assert len(recs) == len(cfgs) > 0, recs_name
        for rec, cfg in zip(recs, cfgs):
            rec = rec[1] if isinstance(rec, tuple) else rec  # Chapter 1's (label, record) pairs
            cfg = cfg[1] if isinstance(cfg, tuple) else cfg
            assert rec["key"] == config_key(rec["experiment"], cfg) and "provenance" in rec

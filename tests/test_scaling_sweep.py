"""Chapter 6's sweeps send a record the store lacks to the executor (that the chapter finds every
stored record without one, and has the executor parameter, is checked for every chapter by
tests/test_sweep_chapters.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "book" / "06_neuron_scaling.ipynb"
UNREACHABLE = "tcp://127.0.0.1:9"


def _code_cells() -> list[dict]:
    return [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]


def _src(cell: dict) -> str:
    return "".join(cell["source"])


def test_a_missing_record_would_go_to_the_executor(tmp_path, monkeypatch):
    """The same cells on an empty store do reach the executor (so the record-finding test has power)."""
    import dask.config
    import distributed  # noqa: F401  (its defaults must be in dask's config before config.set,
    # whose exit would otherwise drop the whole 'distributed' section that the import adds inside it)

    from kdlib.sweep import SweepError, SweepSetupError

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
        with pytest.raises((OSError, SweepError, SweepSetupError, TimeoutError)):
            exec(_src(sweep), ns)
    assert not any(tmp_path.rglob("*.json"))

"""Run a chapter's parameters as papermill sets them, up to the cell that builds its configurations
(nothing is computed: the sweeps are in later cells). For the tests of bad input."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: chapter -> index of the code cell (in the notebook as stored) that builds the configurations
CONFIG_CELL = {name: 3 for name in ("01_motivation", "02_kernel", "03_margin", "04_soft_labels",
                                     "05_hard_labels", "06_neuron_scaling", "07_deep_networks")}


def papermill_parameters(p: dict[str, str] | None = None, y: str | None = None) -> dict[str, Any]:
    """The parameters papermill's command line makes of ``-p NAME VALUE`` pairs and a ``-y`` text."""
    import yaml
    from papermill.cli import _resolve_type
    from papermill.cli import NoDatesSafeLoader  # the loader papermill uses for -y

    out: dict[str, Any] = {}
    if y is not None:
        out.update(yaml.load(y, Loader=NoDatesSafeLoader) or {})
    for name, value in (p or {}).items():
        out[name] = _resolve_type(value)
    return out


def run_config_cell(chapter: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Inject ``parameters`` with papermill (as ``papermill -p`` does) and execute the chapter's
    code cells up to the one that builds its configurations; return the namespace."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(ROOT / "book" / f"{chapter}.ipynb"))
    stop = nb.cells[CONFIG_CELL[chapter]]
    nb = parameterize_notebook(nb, parameters)
    ns: dict[str, Any] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        exec(compile(cell.source, f"<{chapter} cell>", "exec"), ns)
        if cell.source == stop.source:
            break
    return ns

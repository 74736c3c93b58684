"""The notebooks as a reader and a re-runner meet them: papermill parses every line of each
parameters cell, code lines fit the book's column, nbval markers are cell tags (not visible
comments), and every figure has a caption."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
MAX_LINE = 88


def _nb(path: Path) -> dict:
    return json.loads(path.read_text())


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_parses_every_parameter_line(path: Path, caplog):
    from papermill.inspection import _infer_parameters
    from papermill.iorw import load_notebook_node

    nb = _nb(path)
    cells = [c for c in _code_cells(nb) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        pytest.skip(f"{path.name} has no parameters cell")
    assert len(cells) == 1, "more than one cell tagged parameters"
    with caplog.at_level(logging.WARNING, logger="papermill"):
        params = _infer_parameters(load_notebook_node(str(path)))
    assert not [r for r in caplog.records if "Unable to parse" in r.getMessage()], caplog.text
    assigned = [ln.split("=", 1)[0].strip() for ln in "".join(cells[0]["source"]).splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")]
    assert [p.name for p in params] == assigned


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_fits_the_column_and_markers_are_tags(path: Path):
    for i, c in enumerate(_code_cells(_nb(path))):
        src = "".join(c["source"])
        for line in src.splitlines():
            assert len(line) <= MAX_LINE, f"cell {i}: {len(line)} characters: {line!r}"
        assert "NBVAL_" not in src, f"cell {i}: use the nbval-* cell tags, not a visible comment"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_has_a_caption_and_no_bare_dicts(path: Path):
    for i, c in enumerate(_code_cells(_nb(path))):
        outs = c.get("outputs", [])
        if any("image/png" in o.get("data", {}) for o in outs):
            cap = c.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("caption", "")
            assert cap.strip(), f"cell {i} shows a figure without a caption (metadata mystnb.figure)"
        for o in outs:
            text = "".join(o.get("data", {}).get("text/plain", ""))
            if o.get("output_type") == "execute_result" and "text/html" not in o.get("data", {}):
                assert not text.lstrip().startswith("{"), f"cell {i} shows a bare dict: {text[:80]}"

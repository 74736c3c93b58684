"""The "Rerun this chapter" box (``_ext/kdlib_rerun.py``) reads each notebook's parameters
cell as papermill does: the same names, in the same order, with the same defaults."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "_ext"))
from kdlib_rerun import commands, parameters_cell, parse_parameters  # noqa: E402

NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_box_lists_what_papermill_infers(path: Path):
    from papermill.inspection import _infer_parameters
    from papermill.iorw import load_notebook_node

    source = parameters_cell(path)
    if source is None:
        pytest.skip(f"{path.name} has no parameters cell")
    ours = parse_parameters(source)
    theirs = _infer_parameters(load_notebook_node(str(path)))
    assert [p.name for p in ours] == [p.name for p in theirs]
    assert [p.default for p in ours] == [p.default for p in theirs]


def test_comments_types_and_commands():
    src = ('# "reduced" or "full"\n# (two lines)\ndataset = "full"\n\nwidths = [16, 64, 256]\n'
           'B = float("inf")\n# where to compute\nexecutor = "local"\nDEVICE = "cpu"\nseeds = 3\n')
    ps = {p.name: p for p in parse_parameters(src)}
    assert ps["dataset"].doc == '"reduced" or "full" (two lines)'
    assert ps["widths"].doc == "" and ps["widths"].value == [16, 64, 256]
    assert ps["B"].default == 'float("inf")' and ps["B"].value is None
    cmd = commands("book/09_x.ipynb", list(ps.values()))
    assert cmd["run"].endswith("papermill book/09_x.ipynb runs/09_x.ipynb -p seeds 3")
    assert '-y "widths: [16, 64]"' in cmd["list"] and "-p widths '[16, 64]'" in cmd["list"]
    assert cmd["executor"].endswith("-p executor tcp://host:8786")
    assert cmd["device"].endswith("-p DEVICE cuda")
    assert "device" not in commands("book/09_x.ipynb", parse_parameters("n = 2\n"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_built_page_has_the_box(path: Path):
    html = ROOT / "_build" / "html" / "book" / f"{path.stem}.html"
    if not html.exists():
        pytest.skip("the book is not built (run `make book`)")
    if parameters_cell(path) is None:
        pytest.skip(f"{path.name} has no parameters cell")
    text = re.sub(r"<[^>]+>", "", html.read_text())
    assert "Rerun this chapter" in text
    assert f"papermill book/{path.name}" in text
    for p in parse_parameters(parameters_cell(path)):
        assert p.name in text, p.name

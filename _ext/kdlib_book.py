"""The book's own Sphinx extension (registered in ``_config.yml`` under ``local_extensions``).

- Registers the author-year bibliography style of :mod:`kdlib_bib`.
- Puts a "Rerun this chapter" box at the top of every chapter with a papermill
  ``parameters`` cell (:mod:`kdlib_rerun`).
- Inline formulas broken over two source lines: TeX reads the line end as a space, but
  MathJax drops it inside ``\\text{...}`` (``\\text{comparator`` / ``term}`` rendered as
  "comparatorterm"), so line ends in inline math become spaces (unless the formula has a
  ``%`` comment, where the line end matters).
"""
from __future__ import annotations

import sys
from pathlib import Path

from docutils import nodes

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kdlib_bib  # noqa: E402,F401  (registers the pybtex style)
from kdlib_rerun import insert_rerun_box  # noqa: E402


def _inline_math_line_ends(app, doctree) -> None:
    for node in doctree.findall(nodes.math):
        text = node.astext()
        if "\n" in text and "%" not in text:
            node.children = [nodes.Text(" ".join(text.split("\n")))]


# env_version: raise it when this extension changes what it adds to a page, so that Sphinx
# re-reads the cached pages (it does not notice a change of extension code by itself).
def setup(app):
    app.connect("doctree-read", _inline_math_line_ends)
    app.connect("doctree-read", insert_rerun_box)
    return {"version": "1.0", "env_version": 3, "parallel_read_safe": True, "parallel_write_safe": True}

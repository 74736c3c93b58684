"""A "Rerun this chapter" box at the top of every chapter that has a papermill
``parameters`` cell, generated at build time from that cell (no notebook is edited).

The cell's assignments are read with :mod:`ast`: each parameter, the source text of its
default, and the comment lines just above it. The box gives the papermill command, the
table of parameters, how to pass a list (``-y`` for YAML, or ``-p`` with its string form),
and, where the chapter has those parameters, how to send the computing to a Dask scheduler
(``executor``) or a GPU (``device``).
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

from docutils import nodes


@dataclass(frozen=True)
class Parameter:
    name: str
    default: str          # the default as written in the cell
    doc: str              # the comment lines above the assignment, joined
    value: object = None  # the default as a Python literal, when it is one


def parameters_cell(notebook: Path) -> str | None:
    """The source of the notebook's cell tagged ``parameters`` (None if it has none)."""
    nb = json.loads(notebook.read_text())
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            src = cell.get("source", "")
            return "".join(src) if isinstance(src, list) else src
    return None


def parse_parameters(source: str) -> list[Parameter]:
    """Every ``name = value`` of a parameters cell, in order, with its default's source text
    and the comment lines directly above it (a comment run ends at a blank or code line)."""
    lines = source.splitlines()
    params = []
    for node in ast.parse(source).body:
        if not (isinstance(node, (ast.Assign, ast.AnnAssign))):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if len(targets) != 1 or not isinstance(targets[0], ast.Name) or node.value is None:
            continue
        doc = []
        i = node.lineno - 2
        while i >= 0 and lines[i].lstrip().startswith("#"):
            doc.insert(0, lines[i].lstrip()[1:].strip())
            i -= 1
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, SyntaxError, TypeError):
            value = None
        params.append(Parameter(targets[0].id, ast.get_source_segment(source, node.value) or "",
                                " ".join(doc), value))
    return params


def _find(params: list[Parameter], name: str) -> Parameter | None:
    return next((p for p in params if p.name.lower() == name), None)


def commands(notebook: str, params: list[Parameter]) -> dict[str, str]:
    """The example commands of the box, keyed by what they show."""
    stem = Path(notebook).stem
    base = f"papermill {notebook} runs/{stem}.ipynb"
    out = {"run": f"source .venv/bin/activate\nmkdir -p runs\n{base}"}
    scalar = next((p for p in params if isinstance(p.value, int) and not isinstance(p.value, bool)), None)
    if scalar is not None:
        out["run"] += f" -p {scalar.name} {scalar.value}"
    lst = next((p for p in params if isinstance(p.value, list) and p.value), None)
    if lst is not None:
        short = json.dumps(lst.value[:2])
        out["list"] = f"{base} -y \"{lst.name}: {short}\"\n{base} -p {lst.name} '{short}'"
    ex = _find(params, "executor")
    if ex is not None:
        out["executor"] = f"{base} -p {ex.name} tcp://host:8786"
    dev = _find(params, "device")
    if dev is not None:
        out["device"] = f"{base} -p {dev.name} cuda"
    return out


def _para(*parts) -> nodes.paragraph:
    p = nodes.paragraph()
    for part in parts:
        p += nodes.literal(part[0], part[0]) if isinstance(part, tuple) else nodes.Text(part)
    return p


def _code(text: str) -> nodes.literal_block:
    block = nodes.literal_block(text, text, language="bash")
    block["highlight_args"] = {}
    return block


def _table(params: list[Parameter]) -> nodes.table:
    documented = any(p.doc for p in params)
    titles = ("parameter", "default", "what it sets")[: 3 if documented else 2]
    table = nodes.table(classes=["kdlib-rerun-params"])
    group = nodes.tgroup(cols=len(titles))
    table += group
    for width in (22, 26, 52)[: len(titles)]:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    row = nodes.row()
    for title in titles:
        row += nodes.entry("", nodes.paragraph(text=title))
    head += row
    group += head
    body = nodes.tbody()
    for p in params:
        row = nodes.row()
        row += nodes.entry("", nodes.paragraph("", "", nodes.literal(p.name, p.name)))
        row += nodes.entry("", nodes.paragraph("", "", nodes.literal(p.default, p.default)))
        if documented:
            row += nodes.entry("", nodes.paragraph(text=p.doc))
        body += row
    group += body
    return table


def rerun_box(notebook: str, params: list[Parameter]) -> nodes.admonition:
    """The admonition node for a notebook at ``notebook`` (a path from the repository root)."""
    cmd = commands(notebook, params)
    box = nodes.admonition(classes=["kdlib-rerun", "dropdown", "tip"])
    box += nodes.title(text="Rerun this chapter")
    box += _para("From the repository root, after ", ("make book", ), " has set up ", (".venv",),
                 ", run this chapter with papermill, changing any parameter below with ", ("-p NAME VALUE",),
                 ". Stored records are read; settings not in the store yet are computed and stored.")
    box += _code(cmd["run"])
    box += _table(params)
    if "list" in cmd:
        box += _para("A list (or None) is passed as YAML with ", ("-y",), "; ", ("-p",),
                     " passes it as the string ", (cmd["list"].split("'")[1],), ":")
        box += _code(cmd["list"])
    if "executor" in cmd:
        box += _para("Compute what the store lacks on a Dask cluster: start ", ("dask scheduler",),
                     " and ", ("dask worker tcp://host:8786",), " on its machines (see the README), then:")
        box += _code(cmd["executor"])
    if "device" in cmd:
        box += _para("On a GPU:")
        box += _code(cmd["device"])
    else:
        box += _para("This chapter has no ", ("device",), " parameter.")
    return box


def insert_rerun_box(app, doctree) -> None:
    """Sphinx ``doctree-read`` handler: put the box under the title of a chapter whose
    notebook has a ``parameters`` cell."""
    docname = app.env.docname
    path = Path(app.env.doc2path(docname))
    if path.suffix != ".ipynb":
        return
    source = parameters_cell(path)
    if source is None:
        return
    params = parse_parameters(source)
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None or not params:
        return
    at = 1 if section.children and isinstance(section.children[0], nodes.title) else 0
    rel = path.relative_to(Path(app.srcdir)).as_posix()
    section.insert(at, rerun_box(rel, params))

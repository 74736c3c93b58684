"""Tables and provenance lines for the book.

A :class:`Table` is the one way a notebook shows a table. It is a ``str`` (its
fixed-width plain-text rendering, which is what Jupyter stores as ``text/plain`` and
what ``print`` shows) that also renders itself as an HTML ``<table>``
(``_repr_html_``): the built book (myst-nb prefers ``text/html``) and Jupyter show a
real table, numbers right-aligned, headers in the paper's notation (a tiny markup:
``<i>``, ``<sub>``, ``<sup>`` and Unicode, e.g. ``"<i>R</i><sup>KL</sup>"``). nbval
compares both renderings, so the rounded numbers stay checked.

Numbers are rounded to what the evidence supports (``digits``), so that a notebook's
stored output is the same on every machine that reads the same stored record.

:func:`provenance` turns the provenance of stored records into one collapsible block
(a one-line summary, the per-record details inside).
"""
from __future__ import annotations

import html
import math
import re
from typing import Any, Iterable, Sequence

_TAG = re.compile(r"<[^>]+>")
#: A cell is "numeric" (right-aligned) if it starts like a number, an interval or a mean ± sd.
_NUMERIC = re.compile(r"^\s*(?:[\[(]?[-−+]?(?:\d|\.\d|inf)|[—–-]\s*$)")


def fmt(value: Any, digits: int = 2) -> str:
    """A number with ``digits`` decimals; NaN/None as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def significant(v: float, digits: int = 2) -> str:
    """A number to ``digits`` significant digits (scientific outside ``[1e-3, 1e5)``); None, NaN and inf as ``-``.

    The format of the tables of Chapters 4 and 5, where the quantities span many decades; :func:`fmt`
    (fixed decimals) is the format of the others."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if v == 0:
        return "0"
    return f"{v:.{digits}g}" if 1e-3 <= abs(v) < 1e5 else f"{v:.{max(digits - 1, 0)}e}"


def mean_std(mean: float, std: float, digits: int = 2) -> str:
    """``mean ± std`` (std omitted when undefined, e.g. a single run)."""
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return fmt(mean, digits)
    return f"{fmt(mean, digits)} ± {fmt(std, digits)}"


def plain_header(markup: str) -> str:
    """The plain-text form of a header in the table markup: ``<sup>x</sup>`` -> ``^x``,
    ``<sub>x</sub>`` -> ``_x``, other tags dropped, entities unescaped."""
    s = re.sub(r"<sup>(.*?)</sup>", r"^\1", markup)
    s = re.sub(r"<sub>(.*?)</sub>", r"_\1", s)
    return html.unescape(_TAG.sub("", s))


def is_numeric(cell: str) -> bool:
    """True for cells that are right-aligned: numbers, intervals ``[a, b]``, ``m ± s``, dashes."""
    return bool(_NUMERIC.match(cell))


class Table(str):
    """A table: ``str`` is the fixed-width text; ``_repr_html_`` an HTML table.

    ``header``: column headers in the markup above; ``rows``: cells (formatted with
    :func:`fmt` unless already strings); ``caption``: an optional line above the table
    (plain text; in HTML a paragraph just above the table).
    """

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str | None

    def __new__(cls, header: Sequence[str], rows: Iterable[Sequence[Any]], *, caption: str | None = None,
                digits: int = 2) -> "Table":
        head = tuple(str(h) for h in header)
        body = tuple(tuple(c if isinstance(c, str) else fmt(c, digits) for c in r) for r in rows)
        for r in body:
            if len(r) != len(head):
                raise ValueError(f"a table row has {len(r)} cells but there are {len(head)} headers: {r!r}")
        text = _text(tuple(plain_header(h) for h in head), body)
        if caption:
            text = caption + "\n" + text
        obj = super().__new__(cls, text)
        obj.header, obj.rows, obj.caption = head, body, caption
        return obj

    @property
    def numeric(self) -> tuple[bool, ...]:
        """Per column: right-aligned (every non-empty cell numeric)."""
        return tuple(all(is_numeric(r[j]) for r in self.rows if r[j]) and bool(self.rows)
                     for j in range(len(self.header)))

    def _repr_html_(self) -> str:
        num = self.numeric
        align = ["text-align:right" if n else "text-align:left" for n in num]
        pad = "padding:0.15em 0.6em"
        head = "".join(f'<th style="{a};{pad};vertical-align:bottom">{h}</th>'
                       for h, a in zip(self.header, align))
        body = "".join(
            "<tr>" + "".join(f'<td style="{a};{pad};white-space:nowrap">{html.escape(c)}</td>'
                             for c, a in zip(r, align)) + "</tr>"
            for r in self.rows
        )
        table = (f'<table class="kdlib-table" style="font-variant-numeric:tabular-nums">'
                 f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        if not self.caption:
            return table
        # the caption as a line above the table (a <caption> would wrap to the table's width)
        return (f'<div class="kdlib-table-wrap"><p class="kdlib-table-caption" style="margin:0.2em 0">'
                f"{html.escape(self.caption)}</p>{table}</div>")

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str.__str__(self))

    def __repr__(self) -> str:
        return str.__str__(self)


def _text(header: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> str:
    """Fixed-width text: every column right-justified, two spaces apart."""
    widths = [max([len(h)] + [len(r[j]) for r in rows]) for j, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def table(rows: Iterable[dict[str, Any]], columns: Sequence[tuple[str, str]], digits: int = 2,
          caption: str | None = None) -> Table:
    """A :class:`Table` from dict rows; ``columns`` are (key, header) pairs."""
    rows = list(rows)
    return Table([h for _, h in columns], [[r.get(k) for k, _ in columns] for r in rows], digits=digits,
                 caption=caption)


def markdown_table(rows: Iterable[dict[str, Any]], columns: Sequence[tuple[str, str]], digits: int = 2) -> str:
    """A Markdown (GFM) table; ``columns`` are (key, header) pairs, cells formatted with :func:`fmt`."""
    rows = list(rows)
    head = "| " + " | ".join(plain_header(h) for _, h in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(fmt(r.get(k), digits) for k, _ in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def show(rows: Iterable[dict[str, Any]], columns: Sequence[tuple[str, str]], digits: int = 2,
         caption: str | None = None) -> Table:
    """:func:`table` for display in a notebook (the cell's last expression)."""
    return table(rows, columns, digits, caption)


# --------------------------------------------------------------------------- provenance
def _summary_line(records: Sequence[dict[str, Any]]) -> str:
    provs = [r["provenance"] for r in records]
    commits = sorted({p.get("git_commit", "unknown")[:12] for p in provs})
    devices = sorted({p.get("device", "?") for p in provs})
    dates = sorted(p.get("date", "")[:10] for p in provs)
    wall = sum(float(p.get("wall_time_s", 0.0)) for p in provs)
    span = dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
    return (f"{len(records)} stored record{'s' if len(records) != 1 else ''}; computed {span} on "
            f"{'; '.join(devices)}; code {', '.join(commits)}; {wall:.0f} s wall in all")


class Provenance:
    """Where stored records came from: one summary line, the details in a collapsible block.

    Plain text (what nbval would compare; the cells that show it are marked
    ``nbval-ignore-output`` since wall times vary) is the summary and one line per record.
    """

    def __init__(self, records: Sequence[dict[str, Any]], label: Any = None) -> None:
        # a record shown by two tables of a chapter (e.g. n = 500 in a size and a noise sweep) counts once
        unique: dict[tuple[Any, Any], dict[str, Any]] = {}
        for rec in records:
            unique.setdefault((rec.get("experiment"), rec.get("key")), rec)
        self.records = list(unique.values())
        if not self.records:
            raise ValueError("provenance() needs at least one record")
        self.label = label

    def _name(self, rec: dict[str, Any]) -> str:
        if callable(self.label):
            return str(self.label(rec))
        return f"{rec['experiment']} {rec['key'][:8]}"

    def _lines(self) -> list[str]:
        out = []
        for rec in self.records:
            p = rec["provenance"]
            out.append(f"{self._name(rec)}: {float(p.get('wall_time_s', 0.0)):.0f} s wall on {p.get('device', '?')}, "
                       f"{p.get('date', '?')}, code {p.get('git_commit', '?')[:12]}, torch {p.get('torch_version', '?')}")
        return out

    def __repr__(self) -> str:
        return "Provenance: " + _summary_line(self.records) + "\n" + "\n".join("  " + s for s in self._lines())

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html.escape(s)}</li>" for s in self._lines())
        return ('<details class="kdlib-provenance" style="font-size:0.85em;color:#555">'
                f"<summary>Provenance: {html.escape(_summary_line(self.records))}</summary>"
                f'<ul style="margin:0.3em 0">{items}</ul></details>')


def provenance(records: Iterable[dict[str, Any]], label: Any = None) -> Provenance:
    """A :class:`Provenance` of stored records; ``label(record)`` names a record (default: experiment and key)."""
    return Provenance(list(records), label)

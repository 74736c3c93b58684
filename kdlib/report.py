"""Tables for the book: plain Markdown built from result rows.

Numbers are rounded to what the evidence supports (``digits``), so that a
notebook's printed output is the same on every machine that reads the same
stored record.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from IPython.display import Markdown


def fmt(value: Any, digits: int = 2) -> str:
    """A number with ``digits`` decimals; NaN/None as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def mean_std(mean: float, std: float, digits: int = 2) -> str:
    """``mean ± std`` (std omitted when undefined, e.g. a single run)."""
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return fmt(mean, digits)
    return f"{fmt(mean, digits)} ± {fmt(std, digits)}"


def markdown_table(rows: Iterable[dict[str, Any]], columns: Sequence[tuple[str, str]], digits: int = 2) -> str:
    """A Markdown table; ``columns`` are (key, header) pairs, cells formatted with :func:`fmt`."""
    rows = list(rows)
    head = "| " + " | ".join(h for _, h in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(fmt(r.get(k), digits) for k, _ in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def show(rows: Iterable[dict[str, Any]], columns: Sequence[tuple[str, str]], digits: int = 2) -> Markdown:
    """:func:`markdown_table` for display in a notebook."""
    return Markdown(markdown_table(rows, columns, digits))

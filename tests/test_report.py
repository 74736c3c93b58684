"""kdlib.report: tables render as HTML tables (numbers right-aligned) and as the same text as before."""
from __future__ import annotations

import html.parser
import math

from IPython.core.formatters import DisplayFormatter

from kdlib.report import Table, is_numeric, plain_header, provenance, show


class _Cells(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, str, str]] = []  # (tag, style, text)
        self._cur: list | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("td", "th"):
            self._cur = [tag, dict(attrs).get("style", ""), ""]

    def handle_data(self, data):
        if self._cur is not None:
            self._cur[2] += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cur is not None:
            self.cells.append(tuple(self._cur))
            self._cur = None


def test_table_text_and_html_hold_the_same_rounded_numbers():
    t = show([{"w": 4, "acc": 91.2345, "lab": "soft"}, {"w": 16, "acc": math.nan, "lab": "hard"}],
             [("w", "<i>m</i>"), ("acc", "<i>R</i><sup>KL</sup>"), ("lab", "labels")], digits=2)
    # text: header in plain notation, right-justified columns, numbers rounded to 2 decimals
    assert str(t).splitlines() == [" m   R^KL  labels", " 4  91.23    soft", "16      —    hard"]
    p = _Cells()
    p.feed(t._repr_html_())
    texts = [c[2] for c in p.cells]
    assert texts == ["m", "RKL", "labels", "4", "91.23", "soft", "16", "—", "hard"]
    styles = {c[2]: c[1] for c in p.cells}
    assert "right" in styles["91.23"] and "right" in styles["16"] and "left" in styles["soft"]
    assert "<sup>KL</sup>" in t._repr_html_() and "<table" in t._repr_html_()


def test_jupyter_stores_html_and_plain_text():
    t = Table(["a", "b"], [["x", 1.5]])
    data, _ = DisplayFormatter().format(t)
    assert set(data) >= {"text/html", "text/plain"}
    assert data["text/plain"] == "a     b\nx  1.50"
    assert "<td" in data["text/html"]


def test_cells_are_escaped_and_rows_checked():
    t = Table(["a"], [["<b>&"]])
    assert "&lt;b&gt;&amp;" in t._repr_html_()
    try:
        Table(["a", "b"], [["only one"]])
    except ValueError as exc:
        assert "2 headers" in str(exc)
    else:
        raise AssertionError("a short row was accepted")


def test_numeric_cells_and_headers():
    for s in ("0.5", "-3", "[0.04, 0.07]", "81.0 ± 1.4", "5e-04", "—", "9/10"):
        assert is_numeric(s), s
    for s in ("soft", "paper, Table 1", "yes"):
        assert not is_numeric(s), s
    assert plain_header("max √<i>m</i>‖Δ<i>W<sub>j</sub></i>‖") == "max √m‖ΔW_j‖"


def test_provenance_is_one_collapsible_block():
    recs = [{"experiment": "x", "key": "abcdef123456", "provenance": {"wall_time_s": 10.4, "device": "cpu",
             "date": "2026-11-30T08:00:00+00:00", "git_commit": "0123456789abcdef", "torch_version": "2"}},
            {"experiment": "x", "key": "bbcdef123456", "provenance": {"wall_time_s": 5.0, "device": "cpu",
             "date": "2026-12-01T08:00:00+00:00", "git_commit": "0123456789abcdef", "torch_version": "2"}}]
    h = provenance(recs)._repr_html_()
    assert h.startswith("<details") and h.count("<li>") == 2
    assert "2 stored records" in h and "2026-11-30 to 2026-12-01" in h and "15 s wall in all" in h
    assert "0123456789ab" in repr(provenance(recs))


def test_caption_is_a_line_above_the_table():
    t = Table(["a"], [[1]], caption="n = 3 & more")
    assert str(t).splitlines()[0] == "n = 3 & more"
    h = t._repr_html_()
    assert h.index("n = 3 &amp; more") < h.index("<table")


def test_provenance_counts_a_record_shown_twice_once():
    a = {"experiment": "x", "key": "aaaa", "provenance": {"wall_time_s": 10.0, "device": "cpu",
                                                        "git_commit": "0" * 40, "date": "2026-01-01T00:00:00"}}
    b = {"experiment": "x", "key": "bbbb", "provenance": {"wall_time_s": 5.0, "device": "cpu",
                                                        "git_commit": "0" * 40, "date": "2026-01-01T00:00:00"}}
    prov = provenance([a, b, a])
    assert [r["key"] for r in prov.records] == ["aaaa", "bbbb"]
    assert "2 stored records" in repr(prov) and "15 s wall in all" in repr(prov)

"""The built book's navigation and references (no browser needed): chapters numbered in
the sidebar as the text calls them, and bibliography labels in the author-year form of the
citations."""
from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"

pytestmark = pytest.mark.skipif(not (HTML / "book" / "intro.html").exists(), reason="the book is not built (run `make book`)")


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def test_sidebar_numbers_match_the_chapter_files():
    """``book/0N_*`` is "N." in the sidebar, so "Chapter N" in the text is the N-th entry."""
    page = (HTML / "book" / "intro.html").read_text()
    links = re.findall(r'class="toctree-l1[^"]*"><a class="reference internal" href="([^"]+)">(.*?)</a>', page, flags=re.S)
    numbered = {Path(href).stem: _text(label) for href, label in links}
    chapters = sorted(p.stem for p in (ROOT / "book").iterdir() if re.match(r"\d\d_", p.name))
    assert chapters, "no numbered chapter files"
    for stem in chapters:
        assert stem in numbered, f"{stem} is not in the sidebar"
        assert numbered[stem].startswith(f"{int(stem[:2])}. "), (stem, numbered[stem])
    assert not re.match(r"\d", numbered.get("appendix_slips", "A")), "the appendix is numbered"


def test_every_chapter_mentioned_exists():
    chapters = {int(p.name[:2]) for p in (ROOT / "book").iterdir() if re.match(r"\d\d_", p.name)}
    for page in (HTML / "book").glob("*.html"):
        for n in re.findall(r"Chapter&nbsp;(\d+)|Chapter (\d+)", page.read_text()):
            k = int(n[0] or n[1])
            assert k in chapters, f"{page.name} mentions Chapter {k}, which the book does not have"


def test_bibliography_labels_are_author_year():
    page = (HTML / "book" / "intro.html").read_text()
    labels = [_text(x) for x in re.findall(r'<span class="label"><span class="fn-bracket">\[</span>(.*?)<span class="fn-bracket">\]</span>',
                                          page, flags=re.S)]
    assert len(labels) >= 10
    for label in labels:
        assert re.fullmatch(r"[A-Z][\w\-' ’À-ž]*( and [A-Z][\w\-' À-ž]*| et al\.)?, \d{4}[a-z]?", label), label

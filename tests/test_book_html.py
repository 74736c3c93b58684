"""The built book in a real browser: MathJax typeset the equations (from a bundled copy),
and Chapter 1's figure is on its page.

Needs Debian's ``chromium`` and a built book (``make book``); skipped with the reason otherwise.
``make test`` builds the book and installs chromium first.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)"),
    pytest.mark.skipif(not (HTML / "index.html").exists(), reason="the book is not built (run `make book`)"),
]


def _rendered_dom(page: Path) -> str:
    """The page's DOM after its scripts ran, from headless Chromium (no network)."""
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--allow-file-access-from-files",
            "--virtual-time-budget=20000", "--dump-dom", page.as_uri(),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _chapter1() -> Path:
    pages = sorted((HTML / "book").glob("01_*.html"))
    assert pages, "Chapter 1 was not built"
    return pages[0]


def test_mathjax_is_bundled_not_fetched():
    html = _chapter1().read_text()
    srcs = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', html, flags=re.I)
    assert srcs, "no MathJax script on the page"
    assert all(not s.startswith(("http:", "https:", "//")) for s in srcs), srcs


def test_equations_are_typeset_and_figure_present():
    dom = _rendered_dom(_chapter1())
    assert "<mjx-container" in dom, "MathJax did not typeset the equations"
    assert dom.count("<mjx-container") >= 3
    figures = re.findall(r'<img[^>]+src="([^"]+\.png)"', dom)
    assert figures, "Chapter 1 shows no figure"
    for src in figures:
        assert (_chapter1().parent / src).resolve().exists(), src


def test_intro_page_is_typeset():
    dom = _rendered_dom(HTML / "book" / "intro.html")
    assert "<mjx-container" in dom

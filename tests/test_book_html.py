"""The built book in a real browser: every page of ``_toc.yml`` is loaded in headless
Chromium (through Selenium and Debian's ``chromium-driver``) and its DOM is checked as a
reader sees it:

- no raw Markdown table text (a line of pipes, ``|---|``, ``|—|``) and no fixed-width text
  table in an output; every table a notebook stores as HTML is a ``<table>`` on the page;
- MathJax (bundled, not fetched) typeset every formula: no ``$``, ``\\frac``, ``\\mathbb``,
  ``\\(`` left in text outside code;
- every image has loaded (natural width > 0) and every figure a notebook shows has a caption;
- no object reprs (``<Figure size``, ``<matplotlib``), progress bars or error outputs.

At 400 px (a phone) and 1400 px (a desktop), every page:

- no element is wider than the text column or clipped by a block that hides its overflow,
  unless it scrolls inside its own block (display math, a table, a figure, code), and every
  such block shows a cue at the edge where more is hidden; the page is never wider than
  the viewport (a long unbreakable string wraps);
- no equation number is drawn over its formula;
- figure text is at least 8 px as rendered: the smallest font of ``kdlib.plots``' style
  (``SMALLEST_FONT_PT``, points at the PNG's own dpi) times the displayed/drawn width ratio.

The PDF of the book (``make pdf``) exists and its outline names every chapter.

A full-page screenshot of each page goes to ``_build/screenshots/`` for a person to look at
(``<page>.png`` at 1280 px, ``<page>_400.png`` and ``<page>_1400.png``).
``KDLIB_BOOK_HTML`` points the test at another built book (default ``_build/html``).
Needs a built book (``make book``) and ``chromium`` + ``chromium-driver`` (``make browser-deps``);
skipped with the reason otherwise.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = Path(os.environ.get("KDLIB_BOOK_HTML", ROOT / "_build" / "html"))
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

try:
    import selenium  # noqa: F401
    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)"),
    pytest.mark.skipif(DRIVER is None, reason="chromedriver not installed (apt-get install chromium-driver)"),
    pytest.mark.skipif(not HAVE_SELENIUM, reason="selenium not installed (pip install -r requirements.txt)"),
    pytest.mark.skipif(not (HTML / "index.html").exists(), reason="the book is not built (run `make book`)"),
]


def toc_pages() -> list[str]:
    """Every page of ``_toc.yml`` (root, chapters, sections), as paths without suffix."""
    text = (ROOT / "_toc.yml").read_text()
    return re.findall(r"^\s*(?:root|-?\s*file):\s*(\S+)", text, flags=re.M)


def html_tables_stored(page: str) -> int:
    """How many table outputs the page's notebook stores as HTML (0 for a Markdown page)."""
    nb = ROOT / f"{page}.ipynb"
    if not nb.exists():
        return 0
    n = 0
    for c in json.loads(nb.read_text())["cells"]:
        tags = c.get("metadata", {}).get("tags", [])
        if c["cell_type"] != "code" or "remove-output" in tags or "remove-cell" in tags:
            continue
        for o in c.get("outputs", []):
            n += "<table" in "".join(o.get("data", {}).get("text/html", ""))
    return n


# The checks run in the page, after MathJax finished; they return a list of problems.
CHECK_JS = r"""
const done = arguments[arguments.length - 1];
const ready = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();
ready.then(() => {
  const problems = [];
  const main = document.querySelector('main') || document.body;
  const skip = (el) => el.closest('script, style, code, pre.literal-block, .cell_input, .highlight, mjx-container, .MathJax, noscript');
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const el = node.parentElement;
    if (!el || skip(el)) continue;
    const t = node.textContent;
    if (/\$|\\frac|\\mathbb|\\\(|\\\[/.test(t)) problems.push('raw LaTeX in text: ' + t.trim().slice(0, 80));
  }
  const out = Array.from(main.querySelectorAll('.cell_output, .output'));
  const text = main.innerText;
  for (const line of text.split('\n')) {
    const s = line.trim();
    if (/^\|.*\|$/.test(s) || s.includes('|---|') || s.includes('|—|') || s.includes('|-|'))
      problems.push('raw Markdown table text: ' + s.slice(0, 80));
  }
  for (const pre of main.querySelectorAll('.cell_output pre, .output pre')) {
    const rows = pre.innerText.split('\n').filter(l => /\S {2,}\S+ {2,}\S/.test(l));
    if (rows.length >= 2) problems.push('fixed-width text table in an output: ' + rows[0].slice(0, 80));
  }
  for (const pre of main.querySelectorAll('.cell_input pre')) {
    if (pre.scrollWidth > pre.clientWidth + 1) {
      const wide = pre.textContent.split('\n').reduce((a, l) => l.length > a.length ? l : a, '');
      problems.push('code cell needs a horizontal scroll bar: ' + wide.slice(0, 80));
    }
  }
  for (const bad of ['<Figure size', '<matplotlib', '<IPython.core', 'object at 0x'])
    if (text.includes(bad)) problems.push('object repr shown: ' + bad);
  if (/\d+%\|/.test(text) || /it\/s\]/.test(text)) problems.push('progress bar shown');
  for (const el of main.querySelectorAll('.output.error, .output.traceback, .output.stderr, .stderr'))
    problems.push('error output: ' + el.innerText.slice(0, 80));
  for (const img of main.querySelectorAll('img')) {
    if (!(img.complete && img.naturalWidth > 0)) problems.push('image not loaded: ' + img.src);
    if (img.closest('.cell_output')) {
      const fig = img.closest('figure');
      const cap = fig && fig.querySelector('figcaption');
      if (!cap || !cap.innerText.trim()) problems.push('figure without caption: ' + img.src.split('/').pop());
    }
  }
  done({problems: problems, tables: main.querySelectorAll('.cell_output table, .output table').length,
        mathjax: main.querySelectorAll('mjx-container').length,
        height: Math.ceil(document.documentElement.scrollHeight)});
}).catch(e => done({problems: ['MathJax failed: ' + e], tables: 0, mathjax: 0, height: 0}));
"""


# Layout at one viewport width; returns problems, the figures' drawn and shown widths, the height.
LAYOUT_JS = r"""
const done = arguments[arguments.length - 1];
const ready = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();
ready.then(() => new Promise(r => setTimeout(r, 50))).then(() => {
  const problems = [];
  const W = document.documentElement.clientWidth;
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\s+/).slice(0, 2).join('.') : '');
  const what = (el) => name(el) + ' "' + Array.from((el.innerText || el.textContent || '').trim()
      .replace(/\s+/g, ' ').slice(0, 200)).slice(0, 50).join('') + '"';
  if (document.documentElement.scrollWidth > W + 1)
    problems.push('page is ' + document.documentElement.scrollWidth + ' px wide in a ' + W + ' px viewport');
  const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const col = article.getBoundingClientRect();
  const right = Math.min(col.right, W), left = Math.max(col.left, 0);
  const ox = (el) => getComputedStyle(el).overflowX;
  const scrolls = (el) => ['auto', 'scroll'].includes(ox(el));
  // The nearest block inside the article that does not let its content spill (scrolls or clips).
  const box = (el) => {
    for (let a = el.parentElement; a && a !== article; a = a.parentElement) if (ox(a) !== 'visible') return a;
    return null;
  };
  const reported = new Set();
  const seen = (el) => { for (let a = el.parentElement; a; a = a.parentElement) if (reported.has(a)) return true; return false; };
  for (const el of article.querySelectorAll('*')) {
    if (el.closest('mjx-assistive-mml, .headerlink, .visually-hidden, .sr-only')) continue;
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1 || getComputedStyle(el).visibility === 'hidden') continue;
    const b = box(el);
    const lim = b ? b.getBoundingClientRect() : {left: left, right: right};
    if (r.right <= lim.right + 1 && r.left >= lim.left - 1) continue;
    if (b && scrolls(b)) continue;                       // scrolls inside its own block
    if (seen(el)) continue;
    reported.add(el);
    problems.push((b ? 'clipped by ' + name(b) : 'wider than the column') + ' (' + Math.round(r.left) + '..' +
                  Math.round(r.right) + ' px in ' + Math.round(lim.left) + '..' + Math.round(lim.right) + ' px): ' + what(el));
  }
  for (const el of article.querySelectorAll('*')) {
    if (!scrolls(el) || el.scrollWidth <= el.clientWidth + 1 || el.clientHeight < 1) continue;
    const r = el.getBoundingClientRect();
    const outer = box(el);
    if ((r.right > right + 1 || r.left < left - 1) && !(outer && scrolls(outer)))
      problems.push('a scrolling block wider than the column: ' + what(el));
    if (getComputedStyle(el).maskImage === 'none' && getComputedStyle(el).webkitMaskImage === 'none')
      problems.push('scrolls with no cue at its edge: ' + what(el));
  }
  for (const el of article.querySelectorAll('*')) {
    const mask = getComputedStyle(el).maskImage, wmask = getComputedStyle(el).webkitMaskImage;
    if ((mask && mask !== 'none') || (wmask && wmask !== 'none'))
      if (!(scrolls(el) && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1))
        problems.push('faded edge on a block that does not scroll: ' + what(el));
  }
  // Display math: the formula is visible in full or scrolls; its number never covers it.
  for (const m of article.querySelectorAll('div.math')) {
    const c = m.querySelector('mjx-container');
    if (!c) continue;
    const math = c.querySelector('mjx-math') || c;
    const mr = math.getBoundingClientRect();
    const no = m.querySelector('span.eqno');
    if (no) {
      const nr = no.getBoundingClientRect(), cr = c.getBoundingClientRect();
      const vl = Math.max(mr.left, cr.left), vr = Math.min(mr.right, cr.right);
      if (nr.left < vr - 1 && nr.right > vl + 1 && nr.top < mr.bottom && nr.bottom > mr.top)
        problems.push('equation number ' + no.innerText.trim() + ' drawn over its formula');
    }
  }
  const figs = [];
  for (const img of article.querySelectorAll('.cell_output img'))
    figs.push({src: img.getAttribute('src'), natural: img.naturalWidth, shown: img.getBoundingClientRect().width});
  done({problems: problems, figs: figs, height: Math.ceil(document.documentElement.scrollHeight)});
}).catch(e => done({problems: ['MathJax failed: ' + e], figs: [], height: 0}));
"""

WIDTHS = (400, 1400)
MIN_FIGURE_TEXT_PX = 8.0


@pytest.fixture(scope="module")
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--allow-file-access-from-files", "--disable-background-networking", "--no-first-run",
              "--window-size=1280,1000", "--hide-scrollbars"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)
    d.set_script_timeout(60)
    d.set_page_load_timeout(60)
    yield d
    d.quit()


def _screenshot(driver, page: str, height: int) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": 1280, "height": max(height, 1000), "scale": 1},
    })
    path = SHOTS / (Path(page).name + ".png")
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def test_every_toc_page_is_built():
    pages = toc_pages()
    assert len(pages) >= 8, pages
    missing = [p for p in pages if not (HTML / f"{p}.html").exists()]
    assert not missing, missing


def test_mathjax_is_bundled_not_fetched():
    with_math = 0
    for page in toc_pages():
        html = (HTML / f"{page}.html").read_text()
        srcs = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', html, flags=re.I)
        with_math += bool(srcs)
        assert all(not s.startswith(("http:", "https:", "//")) for s in srcs), (page, srcs)
    assert with_math >= 6, "MathJax is missing from the chapters"


@pytest.mark.parametrize("page", toc_pages())
def test_page_reads_right_in_a_browser(driver, page: str):
    driver.get((HTML / f"{page}.html").as_uri())
    res = driver.execute_async_script(CHECK_JS)
    _screenshot(driver, page, res["height"])
    assert not res["problems"], f"{page}: " + "; ".join(res["problems"][:10])
    assert res["tables"] >= html_tables_stored(page), (
        f"{page}: the notebook stores {html_tables_stored(page)} HTML tables, the page shows {res['tables']}")
    src = next((ROOT / f"{page}{ext}") for ext in (".md", ".ipynb") if (ROOT / f"{page}{ext}").exists())
    if re.search(r"\$[^$\n]+\$", src.read_text()):
        assert res["mathjax"] > 0, f"{page}: has formulas but MathJax typeset none"


def _png_dpi(path: Path) -> float:
    """The resolution a PNG declares (its pHYs chunk), 72 if none."""
    from PIL import Image

    with Image.open(path) as im:
        return float(im.info.get("dpi", (72, 72))[0])


def figure_text_problems(page: str, figs: list[dict]) -> list[str]:
    """Figures whose smallest text, as displayed, is under ``MIN_FIGURE_TEXT_PX``."""
    sys.path.insert(0, str(ROOT))
    from kdlib.plots import SMALLEST_FONT_PT

    out = []
    for f in figs:
        path = (HTML / page).parent / f["src"]
        if not path.exists() or not f["natural"]:
            continue
        px = SMALLEST_FONT_PT * _png_dpi(path) / 72 * f["shown"] / f["natural"]
        if px < MIN_FIGURE_TEXT_PX:
            out.append(f"figure {path.name[:12]}: text {px:.1f} px as shown ({f['natural']} px drawn, "
                       f"{f['shown']:.0f} px shown)")
    return out


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", toc_pages())
def test_page_fits_the_viewport(driver, page: str, width: int):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    try:
        driver.get((HTML / f"{page}.html").as_uri())
        res = driver.execute_async_script(LAYOUT_JS)
        SHOTS.mkdir(parents=True, exist_ok=True)
        # a viewport as tall as the page (up to 16000 px), so the shot shows it as laid out
        height = min(max(res["height"], 900), 16000)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        driver.execute_async_script("const done = arguments[arguments.length - 1]; setTimeout(done, 300);")
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
        (SHOTS / f"{Path(page).name}_{width}.png").write_bytes(base64.b64decode(shot["data"]))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    problems = res["problems"] + figure_text_problems(page, res["figs"])
    assert not problems, f"{page} at {width} px: " + "; ".join(problems[:10])


def test_pdf_has_every_chapter():
    sys.path.insert(0, str(ROOT / "_ext"))
    from book_pdf import chapter_titles, pdf_problems

    problems = pdf_problems(HTML / "kdlib-book.pdf", chapter_titles(HTML))
    assert not problems, "; ".join(problems)

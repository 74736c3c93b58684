"""``make pdf``: the whole book as one PDF, offline.

Sphinx's single-page HTML (``_build/singlehtml``, every chapter on one page) is opened in
Debian's headless Chromium (through Selenium and chromium-driver, as the browser test does),
the script waits until the bundled MathJax has typeset every formula and every image has
loaded, then Chromium prints the page (Chrome DevTools ``Page.printToPDF``) with a document
outline: one bookmark per heading, so the chapters are listed in the PDF reader's sidebar.

The PDF is checked before it is kept: its outline must hold the title of every chapter of
``_toc.yml`` (``chapter_titles``), else the script exits with an error naming the missing ones.

    python _ext/book_pdf.py _build/singlehtml _build/html/kdlib-book.pdf
"""
from __future__ import annotations

import argparse
import base64
import html
import re
import shutil
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--allow-file-access-from-files",
         "--hide-scrollbars")

#: Chromium's print settings: A4, 12 mm margins, drawn at 80% so that the page is laid out
#: 879 CSS px wide, about the desktop column the browser test checks (840 px at 1400 px).
PRINT = {"paperWidth": 8.27, "paperHeight": 11.69, "marginTop": 0.47, "marginBottom": 0.47,
         "marginLeft": 0.47, "marginRight": 0.47, "scale": 0.8, "printBackground": True,
         "generateDocumentOutline": True, "generateTaggedPDF": True, "displayHeaderFooter": True,
         "headerTemplate": "<span></span>",
         "footerTemplate": '<div style="font-size:8px;width:100%;text-align:center;color:#666">'
                           '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'}

WAIT_JS = r"""
const done = arguments[arguments.length - 1];
const math = () => (window.MathJax && MathJax.startup && MathJax.startup.promise)
  ? MathJax.startup.promise : new Promise(r => setTimeout(r, 200)).then(math);
const images = () => Promise.all(Array.from(document.images).map(i => i.complete ? 0 :
  new Promise(r => { i.onload = i.onerror = r; })));
math().then(images).then(() => document.fonts.ready).then(() => {
  const raw = [];
  const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
  let n;
  while ((n = walker.nextNode()))
    if (!n.parentElement.closest('script, style, code, pre, mjx-container, .highlight') && /\\\(|\\\[|\\frac/.test(n.textContent))
      raw.push(n.textContent.trim().slice(0, 60));
  done({formulas: document.querySelectorAll('mjx-container').length, raw: raw,
        images: Array.from(document.images).filter(i => i.naturalWidth > 0).length,
        broken: Array.from(document.images).filter(i => !(i.naturalWidth > 0)).map(i => i.src)});
}).catch(e => done({error: String(e)}));
"""


def chapter_titles(html_dir: Path = ROOT / "_build" / "html") -> list[str]:
    """The title (first ``<h1>``, its number and link sign dropped) of every page of ``_toc.yml``."""
    pages = re.findall(r"^\s*(?:root|-?\s*file):\s*(\S+)", (ROOT / "_toc.yml").read_text(), flags=re.M)
    titles = []
    for page in pages:
        text = (html_dir / f"{page}.html").read_text()
        h1 = re.search(r"<h1[^>]*>(.*?)</h1>", text, flags=re.S).group(1)
        h1 = re.sub(r"<a class=\"headerlink.*?</a>", "", h1, flags=re.S)
        h1 = html.unescape(re.sub(r"<[^>]+>", "", h1)).strip()
        titles.append(re.sub(r"^\d+(\.\d+)*\.?\s+", "", h1))
    return titles


def _pdf_string(raw: bytes) -> str:
    """A PDF string object's text: ``(literal)`` with escapes, or ``<hex>`` (UTF-16BE with a BOM)."""
    if raw.startswith(b"<"):
        data = bytes.fromhex(raw[1:-1].decode())
    else:
        body = raw[1:-1]
        out, i = bytearray(), 0
        esc = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b"(": b"(", b")": b")", b"\\": b"\\"}
        while i < len(body):
            c = body[i:i + 1]
            if c == b"\\":
                nxt = body[i + 1:i + 2]
                if nxt in esc:
                    out += esc[nxt]
                    i += 2
                    continue
                m = re.match(rb"[0-7]{1,3}", body[i + 1:i + 4])
                if m:
                    out.append(int(m.group(), 8) & 0xFF)
                    i += 1 + len(m.group())
                    continue
                i += 1
                continue
            out += c
            i += 1
        data = bytes(out)
    if data.startswith(b"\xfe\xff"):
        return data[2:].decode("utf-16-be", errors="replace")
    return data.decode("latin-1")


def _objects_text(pdf: bytes) -> bytes:
    """The PDF's bytes with every Flate stream decompressed after it (outlines may sit in streams)."""
    parts = [pdf]
    for m in re.finditer(rb"stream\r?\n", pdf):
        start = m.end()
        try:
            parts.append(zlib.decompressobj().decompress(pdf[start:start + 50_000_000]))
        except zlib.error:
            continue
    return b"\n".join(parts)


def outline_titles(pdf: bytes) -> list[str]:
    """The titles of the PDF's outline (bookmarks)."""
    text = _objects_text(pdf)
    strings = re.findall(rb"/Title\s*(\((?:\\.|[^\\)])*\)|<[0-9A-Fa-f\s]*>)", text, flags=re.S)
    return [_pdf_string(re.sub(rb"\s", b"", s) if s.startswith(b"<") else s) for s in strings]


def pdf_problems(pdf_path: Path, titles: list[str]) -> list[str]:
    """What is wrong with the PDF at ``pdf_path``: missing, not a PDF, or without a chapter title."""
    if not pdf_path.exists():
        return [f"{pdf_path} is missing (run `make pdf`)"]
    pdf = pdf_path.read_bytes()
    if not pdf.startswith(b"%PDF-"):
        return [f"{pdf_path} is not a PDF"]
    # Chromium builds a bookmark from the heading's laid-out lines, joined without spaces
    # (and sometimes with a line twice): compare with all white space removed.
    have = ["".join(t.split()) for t in outline_titles(pdf)]
    return [f"the PDF has no chapter titled {t!r}" for t in titles
            if not any("".join(t.split()) in h for h in have)]


def print_pdf(singlehtml: Path, out: Path, timeout: float = 300.0) -> dict:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_bin = shutil.which("chromedriver")
    if not (chromium and driver_bin):
        raise SystemExit("make pdf needs chromium and chromedriver: run `make browser-deps` "
                         "(apt-get install chromium chromium-driver)")
    page = next(singlehtml.glob("book/intro.html"), None) or singlehtml / "index.html"
    # The single page is written to book/intro.html with its links relative to the build
    # root ("_static/...", "_images/..."): link those folders beside it.
    for name in ("_static", "_images"):
        link = page.parent / name
        if page.parent != singlehtml and (singlehtml / name).exists() and not link.exists():
            link.symlink_to(Path("..") / name, target_is_directory=True)
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in FLAGS:
        opts.add_argument(flag)
    import tempfile
    with tempfile.TemporaryDirectory(prefix="kdlib-pdf-") as profile:
        opts.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(executable_path=driver_bin), options=opts)
        try:
            driver.set_script_timeout(timeout)
            driver.set_page_load_timeout(timeout)
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": 1100, "height": 1400, "deviceScaleFactor": 1, "mobile": False})
            t0 = time.perf_counter()
            driver.get(page.resolve().as_uri())
            state = driver.execute_async_script(WAIT_JS)
            if "error" in state:
                raise SystemExit(f"the book page did not finish loading: {state['error']}")
            if state["raw"] or state["broken"]:
                raise SystemExit(f"MathJax left raw LaTeX {state['raw'][:3]} or images did not load {state['broken'][:3]}")
            pdf = driver.execute_cdp_cmd("Page.printToPDF", PRINT)
            state["seconds"] = round(time.perf_counter() - t0, 1)
        finally:
            driver.quit()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".pdf.part")
    tmp.write_bytes(base64.b64decode(pdf["data"]))
    tmp.replace(out)   # atomic: a failed run leaves the old PDF or none, never half of one
    return state


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("singlehtml", type=Path, help="Sphinx singlehtml build folder")
    ap.add_argument("out", type=Path, help="where to write the PDF")
    args = ap.parse_args(argv)
    state = print_pdf(args.singlehtml, args.out)
    problems = pdf_problems(args.out, chapter_titles(args.singlehtml.parent / "html"))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    size = args.out.stat().st_size / 2**20
    print(f"{args.out}: {size:.1f} MiB, {state['formulas']} formulas typeset, {state['images']} images, "
          f"{state['seconds']} s in Chromium")
    return 0


if __name__ == "__main__":
    sys.exit(main())

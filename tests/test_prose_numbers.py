"""No measured number is typed in the book's prose: it is glued from the chapter's code.

The scanner reads the prose of every chapter (the markdown cells and figure captions of
``book/*.ipynb``, and ``book/*.md``) and fails on a decimal number (``0.42``) or a
percentage (``9 %``, ``12 percent``) that is not

- inside math (``$...$``, ``$$...$$``, a ``{math}`` block),
- inside a role (``{glue:text}`key:.2f```, and references such as ``{cite}`` or ``{eq}``),
- inside code (a code span or a fenced code block), a link target or a URL,
- or matched by :data:`ALLOWED`: a short list of typed numbers that are not measurements,
  each with its reason.

Chapters whose prose other engineers are still gluing are listed in :data:`NOT_YET_GLUED`
and skipped with the reason; a listed chapter that is already clean fails, so the list
only shrinks. The qualitative claims of Chapters 1 and 2 ("soft labels help only at 4
units", "on every seed") are checked against the stored records through
:func:`kdlib.chapters.motivation.claims` and :func:`kdlib.chapters.kernel.claims`,
and every glue key the prose uses must be glued by the notebook it names.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kdlib.validate import TASKS

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb")) + sorted(BOOK.glob("*.md"))

#: TEMPORARY. Chapters whose prose is being glued on other branches (issue 21); the lead
#: removes each entry when that branch is merged. A listed chapter without typed numbers
#: fails test_not_yet_glued_is_still_needed, so the list cannot outlive its reason.
NOT_YET_GLUED: dict[str, str] = {
    "03_margin.ipynb": "Chapter 3's prose is glued by the referee engineer's branch",
    "04_soft_labels.ipynb": "Chapter 4's prose is glued by the referee engineer's branch",
    "05_hard_labels.ipynb": "Chapter 5's prose (and its restatement of Chapter 6) is glued by the referee engineer's branch",
    "06_neuron_scaling.ipynb": "Chapter 6 is rewritten from new records, glued, by the Chapter 6 engineer",
}
#: TEMPORARY. Passages of otherwise glued chapters that quote a chapter of NOT_YET_GLUED:
#: (file, first words of the paragraph) -> reason. The paragraph is skipped.
NOT_YET_GLUED_PASSAGES: dict[tuple[str, str], str] = {}

#: Typed numbers that are not measurements: (regular expression, why it may be typed).
ALLOWED: tuple[tuple[str, str], ...] = (
    (r"\b(?:Section|Sections|Table|eq\.|equation)\s+\d+(?:\.\d+)+",
     "numbers of the paper's sections and equations, not quantities"),
    (r"\bPython\s+3\.\d+", "the interpreter version the Makefile requires"),
)

_NUMBER = re.compile(r"(?<![\w.])(?:\d+\.\d+|\.\d+)(?![\w])|\d+(?:\.\d+)?\s*(?:%|percent\b|per cent\b)")


# --------------------------------------------------------------------------- the scanner

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,}|:{3,})\s*(\{[^}]*\})?(.*)$")
_PROSE_DIRECTIVES = re.compile(r"\{(?:prf:[\w-]+|note|warning|tip|important|admonition|attention|caution|"
                               r"danger|error|hint|seealso|figure|margin|sidebar|topic|epigraph|table|list-table)\}")


def prose(markdown: str) -> str:
    """``markdown`` with everything that is not prose blanked: fenced code and math blocks
    (the body of prose directives such as ``{prf:proof}`` is kept, less its option lines),
    roles, code spans, math, link targets, URLs and HTML comments."""
    out: list[str] = []
    fence: str | None = None
    keep = False
    options = False
    for line in markdown.splitlines():
        m = _FENCE.match(line)
        if fence is None and m:
            fence, directive = m.group(2), m.group(3) or ""
            keep = bool(_PROSE_DIRECTIVES.fullmatch(directive))
            options = keep
            out.append("")
            continue
        if fence is not None and m and m.group(2)[0] == fence[0] and len(m.group(2)) >= len(fence) \
                and not m.group(3) and not m.group(4).strip():
            fence = None
            out.append("")
            continue
        if fence is not None:
            if options and re.match(r"\s*:[\w-]+:", line):
                out.append("")
                continue
            options = False
            out.append(line if keep else "")
            continue
        out.append(line)
    text = "\n".join(out)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"\{[\w:-]+\}(`+)(.*?)\1", " ", text, flags=re.S)  # roles, glue included
    text = re.sub(r"(`+)(.*?)\1", " ", text, flags=re.S)  # code spans
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)  # display math
    text = re.sub(r"(?<![\\$])\$(?!\$)(?:\\.|[^$\\])+?\$", " ", text)  # inline math
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
    text = re.sub(r"https?://\S+", " ", text)
    return text


def typed_numbers(markdown: str) -> list[str]:
    """The decimal numbers and percentages typed in the prose of ``markdown``, each with
    some context, less those :data:`ALLOWED` permits."""
    text = prose(markdown)
    for pattern, _ in ALLOWED:
        text = re.sub(pattern, " ", text)
    return [text[max(0, m.start() - 40):m.end() + 20].replace("\n", " ") for m in _NUMBER.finditer(text)]


def paragraphs(path: Path) -> list[str]:
    """The markdown of a chapter as paragraphs (notebook markdown cells and figure captions)."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text())
        texts = []
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                texts.append("".join(cell["source"]))
            caption = cell.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("caption")
            if caption:
                texts.append(caption)
    else:
        texts = [path.read_text()]
    out = []
    for t in texts:
        out += re.split(r"\n\s*\n", t)
    return out


def chapter_markdown(path: Path) -> str:
    """The markdown of ``path`` without the passages of :data:`NOT_YET_GLUED_PASSAGES`."""
    skip = [start for (name, start) in NOT_YET_GLUED_PASSAGES if name == path.name]
    return "\n\n".join(p for p in paragraphs(path) if not any(p.lstrip().startswith(s) for s in skip))


# --------------------------------------------------------------------------- the scanner's own tests


@pytest.mark.parametrize("text", [
    "Soft labels win by 0.42 points.",
    "The kernel is 9 % away from the limit.",
    "About 12 percent of runs fail.",
    "A gap of .5 points.",
    "```{prf:proof}\n:label: x\nThe bound is 0.25 here.\n```",
    ":::{note}\nWithin 2.5 points.\n:::",
])
def test_scanner_finds_typed_numbers(text):
    assert typed_numbers(text), text


@pytest.mark.parametrize("text", [
    "Soft labels win by {glue:text}`gap:.2f` points, {glue:text}`../x.ipynb::pct:.0f` %.",
    "The margin $\\gamma = 0.1$ and $$K = 0.5$$ in math.",
    "```{math}\nC_1 = 0.96\n```",
    "```bash\npapermill a.ipynb b.ipynb -p lr 0.5\n```",
    "Run `make test` with `lr=0.25`; see {cite}`ref2025`.",
    "The paper's Section 3.1 and [the docs](https://example.org/v1.2/page.html).",
    "From a fresh clone, with Python 3.11:",
    "Widths 4, 6 and 8; 60,000 images; 512 units.",
])
def test_scanner_passes_math_glue_code_and_allowed(text):
    assert typed_numbers(text) == []


def test_allowlist_is_short_and_says_why():
    assert len(ALLOWED) <= 5
    for pattern, why in ALLOWED:
        re.compile(pattern)
        assert len(why.split()) >= 4, f"say why {pattern!r} may be typed"


# --------------------------------------------------------------------------- the chapters


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_measured_number_typed_in_prose(path: Path):
    if path.name in NOT_YET_GLUED:
        pytest.skip(f"NOT_YET_GLUED: {NOT_YET_GLUED[path.name]}")
    found = typed_numbers(chapter_markdown(path))
    assert not found, (f"{path.name}: numbers typed in the prose; glue them from the chapter's code "
                       f"(myst_nb.glue, {{glue:text}}`key:.2f`), or put them in math: " + " | ".join(found))


def test_not_yet_glued_is_still_needed():
    names = {p.name for p in CHAPTERS}
    for name in NOT_YET_GLUED:
        assert name in names, f"NOT_YET_GLUED names {name}, which is not a chapter"
        assert typed_numbers(chapter_markdown(BOOK / name)), f"{name} is glued now: remove it from NOT_YET_GLUED"
    for (name, start) in NOT_YET_GLUED_PASSAGES:
        hits = [p for p in paragraphs(BOOK / name) if p.lstrip().startswith(start)]
        assert hits, f"NOT_YET_GLUED_PASSAGES: no paragraph of {name} starts with {start!r}"


# --------------------------------------------------------------------------- glue keys resolve

_GLUE = re.compile(r"\{glue(?::(\w+))?\}`([^`]+)`")


def glued_keys(path: Path) -> set[str]:
    """The keys a notebook glues (its stored outputs' scrapbook names)."""
    nb = json.loads(path.read_text())
    return {o["metadata"]["scrapbook"]["name"] for c in nb["cells"] if c["cell_type"] == "code"
            for o in c.get("outputs", []) if "scrapbook" in o.get("metadata", {})}


def glue_references(path: Path) -> list[tuple[Path, str, str]]:
    """(notebook, key, format spec) for every glue role in ``path``'s markdown, parsed as
    myst-nb 1.4 parses them: ``{glue:text}`` splits off the format spec at the last colon,
    then the document at ``::``; the other glue roles have no format spec."""
    out = []
    for role, body in _GLUE.findall("\n\n".join(paragraphs(path))):
        ref, spec = body.rsplit(":", 1) if role == "text" and ":" in body else (body, "")
        doc, _, key = ref.rpartition("::")
        out.append(((path.parent / doc).resolve() if doc else path, key, spec))
    return out


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_glue_key_is_glued_by_its_notebook(path: Path):
    for target, key, spec in glue_references(path):
        assert target.exists() and target.suffix == ".ipynb", f"{path.name}: glue from {target.name}, not a notebook"
        assert key in glued_keys(target), f"{path.name}: {target.name} glues no key {key!r}"


def test_cross_document_glue_has_a_format_spec():
    """myst-nb 1.4 splits ``{glue:text}`doc.ipynb::key``` at its last colon, so a cross-document
    reference without a format spec breaks: write ``doc.ipynb::key:s`` (or ``:.2f``, ``:d``)."""
    for path in CHAPTERS:
        for role, body in _GLUE.findall("\n\n".join(paragraphs(path))):
            if "::" in body and role == "text":
                assert re.search(r"::[^:]+:[^:]+$", body), f"{path.name}: {body!r} needs a format spec"


# --------------------------------------------------------------------------- claims against the records


def _chapter1_records():
    from kdlib.experiments import table1
    from kdlib.results import ResultStore

    store = ResultStore()
    records = [store.load(table1.NAME, table1.Config(dataset=d)) for d in TASKS]
    curve = [store.load(table1.NAME, table1.curve_config(table1.Config(dataset=d))) for d in TASKS]
    sweep = [(label, store.load(table1.NAME, c)) for label, c in table1.settings_sweep(table1.Config(dataset="full"))]
    if any(r is None for r in records + curve + [r for _, r in sweep]):
        pytest.fail("Chapter 1's default records are not all in the store")
    return records, curve, sweep


def test_chapter1_claims_hold_on_the_records():
    from kdlib.chapters.motivation import claims, prose_values

    values = prose_values(*_chapter1_records())
    failed = [name for name, ok in claims(values).items() if not ok]
    assert not failed, f"Chapter 1's prose states what the records no longer show: {failed}"


def test_chapter1_glued_values_match_the_tables():
    """The glued values against an independent reading of the rows (not through table1's helpers)."""
    from kdlib.chapters.motivation import prose_values
    from kdlib.paper import TABLE1

    records, curve, sweep = _chapter1_records()
    v = prose_values(records, curve, sweep)
    acc = {}
    for rec in records:
        for r in rec["rows"]:
            if r["model"] == "student":
                acc.setdefault((r["dataset"], r["width"], r["mode"]), {})[r["seed"]] = r["test_acc"]
    for d in ("reduced", "full"):
        gaps = [acc[(d, 4, "soft")][s] - acc[(d, 4, "hard")][s] for s in acc[(d, 4, "hard")]]
        assert v[f"gap_{d}_4"] == pytest.approx(sum(gaps) / len(gaps), abs=1e-4)
        assert v[f"soft_wins_{d}_8"] == sum(acc[(d, 8, "soft")][s] > acc[(d, 8, "hard")][s] for s in acc[(d, 8, "hard")])
        mean_soft = sum(acc[(d, 4, "soft")].values()) / len(acc[(d, 4, "soft")])
        assert v[f"soft_vs_paper_{d}_4"] == pytest.approx(mean_soft - TABLE1[(d, 4)]["soft"], abs=1e-4)
    assert v["paper_gap_max"] == pytest.approx(max(c["soft"] - c["hard"] for c in TABLE1.values()), abs=1e-9)
    assert v["hard_lowest_full_4"] == pytest.approx(min(acc[("full", 4, "hard")].values()), abs=1e-4)


def test_chapter1_values_survive_a_rerun_with_one_seed_and_no_curve():
    """papermill -p seeds 1 -p show_curve False: the glue cell still runs, without the spreads."""
    import copy

    from kdlib.chapters.motivation import prose_values

    records, _, _ = _chapter1_records()
    one = copy.deepcopy(records)
    for rec in one:
        rec["rows"] = [r for r in rec["rows"] if r["model"] == "teacher" or r["seed"] == 0]
        rec["config"]["seeds"] = 1
    v = prose_values(one)
    assert "spread_ratio_4_min" not in v and "curve_seeds" not in v
    assert v["soft_wins_full_8"] in (0, 1) and v["cells"] == 6


def test_chapter2_claims_hold_on_the_records():
    from kdlib.chapters.kernel import claims, prose_values
    from kdlib.experiments import kernel, table1
    from kdlib.results import ResultStore

    store = ResultStore()
    records = [store.load(kernel.NAME, kernel.Config(task=t)) for t in TASKS]
    if any(r is None for r in records):
        pytest.fail("Chapter 2's default records are not all in the store")
    teacher = {t: table1.stored_teacher_accuracy(t) for t in TASKS}
    values = prose_values(records, teacher)
    failed = [name for name, ok in claims(values, teacher).items() if not ok]
    assert not failed, f"Chapter 2's prose states what the records no longer show: {failed}"
    # the extrapolation the prose quotes: c / sqrt(512) with c the mean of error * sqrt(m)
    assert values["err_teacher_pct"] == pytest.approx(100 * values["scaled_mean"] / 512 ** 0.5, rel=1e-3)

# Everything a newcomer needs. `make book` and `make test` each do their own set-up.
#   make book     build the book to _build/html (the main job)
#   make test     unit tests + nbval over every notebook + book build (warnings as errors) + the PDF + browser check
#   make pdf      the whole book as one PDF, _build/html/kdlib-book.pdf (needs chromium: make browser-deps)
#   make results  recompute every stored result (slow; on a GPU when there is one)
#   make bench    run the benchmarks (they print ratios measured in one process)

PYTHON   ?= python3.11
VENV     ?= .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.kdlib-installed
# The data folder: $KDLIB_DATA, else the project's offline copy beside this checkout, else kdlib's default.
SHARED_DATA := $(abspath ../shared/data)
DATA     ?= $(if $(KDLIB_DATA),$(KDLIB_DATA),$(if $(wildcard $(SHARED_DATA)/.),$(SHARED_DATA),$(HOME)/.cache/kdlib/data))
# Threads pinned so that CPU floats repeat between runs.
THREADS  := OMP_NUM_THREADS=2 MKL_NUM_THREADS=2
NOTEBOOKS := $(wildcard book/*.ipynb)

.PHONY: setup book pdf pdf-print test unit nbval notebooks browser-deps results bench clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml etc/ipython/ipython_kernel_config.py
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	install -D -m 644 etc/ipython/ipython_kernel_config.py $(VENV)/etc/ipython/ipython_kernel_config.py
	@touch $(STAMP)

book: $(STAMP)
	rm -rf _build/html
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "The book is at _build/html/index.html"

# Re-execute every notebook in place (stored records are only loaded), so that the
# stored outputs that the book shows and nbval checks match the code.
notebooks: $(STAMP)
	@for nb in $(NOTEBOOKS); do echo "== $$nb"; \
	  KDLIB_DATA="$(DATA)" $(THREADS) $(BIN)/jupyter execute --inplace $$nb || exit 1; done

# Debian's chromium and chromium-driver for the headless-browser test; skipped (with a
# reason in the test report) where they cannot be installed.
browser-deps:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo "note: could not install chromium; the browser test will be skipped"; \
	  else echo "note: chromium is not installed (as root: apt-get install chromium chromium-driver); the browser test will be skipped"; fi; }

# The whole book as one PDF, offline: Sphinx's single-page HTML, printed by headless
# Chromium once the bundled MathJax has typeset it (_ext/book_pdf.py), checked for every
# chapter title. The intro links to it.
pdf: $(STAMP) browser-deps book
	@$(MAKE) --no-print-directory pdf-print

pdf-print: $(STAMP)
	rm -rf _build/singlehtml
	$(BIN)/jupyter-book build . --builder singlehtml -W -n --keep-going
	$(BIN)/python _ext/book_pdf.py _build/singlehtml _build/html/kdlib-book.pdf

test: $(STAMP) browser-deps book
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory pdf-print; else echo "note: no chromium, so no PDF (the browser test is skipped)"; fi
	KDLIB_DATA="$(DATA)" $(THREADS) $(BIN)/python -m pytest tests $(NOTEBOOKS) \
	  --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -q

unit: $(STAMP)
	KDLIB_DATA="$(DATA)" $(THREADS) $(BIN)/python -m pytest tests -q -m "not browser"

results: $(STAMP)
	KDLIB_DATA="$(DATA)" $(BIN)/python -m kdlib.regenerate

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; KDLIB_DATA="$(DATA)" $(BIN)/python $$b || exit 1; done

clean:
	rm -rf _build

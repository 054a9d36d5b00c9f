# One entry point for installation; the README's two commands call `make demo` / `make test`.
# Idempotent: the stamp is rebuilt only when the files that define the environment change.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.lumbarseg-installed
DEMO_OUT ?= output/demo
PYTEST_ARGS ?=

.PHONY: install browser test demo lint bench clean-venv

install: $(STAMP)

$(STAMP): setup.py tools/install_detectron2.py Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip wheel "setuptools<81"
	$(PY) -m pip install --quiet "torch>=2.4" "torchvision>=0.19"
	$(PY) tools/install_detectron2.py
	$(PY) -m pip install --quiet -e ".[dev]"
	$(VENV)/bin/lumbarseg doctor
	touch $(STAMP)

# Headless Chromium for the HTML report's browser test (Debian's package; CI runs as root).
# Idempotent: nothing to do, and no network, once a chromium is on PATH.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

test: install browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

demo: install
	$(VENV)/bin/lumbarseg demo --out $(DEMO_OUT)

bench: install
	$(PY) benchmarks/run_all.py

clean-venv:
	rm -rf $(VENV)

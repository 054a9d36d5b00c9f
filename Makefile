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

# Each benchmark prints its own side-by-side ratios. Run by hand: benchmarks/gpu_scale.py (needs a
# GPU) and benchmarks/bench_config_change.py KEY VALUE ... (times the change it is given).
BENCHMARKS ?= bench_postprocess bench_labeller_accuracy bench_evaluation bench_phantom \
	bench_data bench_train bench_backbone_width bench_box_context bench_cpu_parallel bench_infer
bench: install
	@for b in $(BENCHMARKS); do echo "== benchmarks/$$b.py"; $(PY) benchmarks/$$b.py || exit 1; done

clean-venv:
	rm -rf $(VENV)

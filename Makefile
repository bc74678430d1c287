# Two commands on a fresh machine (the README's quick start; .ci/run calls `make test`):
#   make sweep   installs what is missing into .venv, then runs the default sweep (space=ot_reg, sweeps/local.yaml)
#   make test    installs what is missing into .venv (and Debian's chromium for the dashboard test), lints, runs the tests
#   make lint    ruff over the whole tree; lint-imports checks the layering (.importlinter, docs/architecture.md)
# Extra sweep keys: make sweep ARGS="num_samples=4 steps=200"; another space: make sweep SPACE=ot_full.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch first, pinned: with no torch installed, an unpinned one (asked for by another package) pulls a CUDA build of
# several GB. On this project's machines `torch==2.13.0` takes the CPU wheel they carry; on a GPU box set TORCH to
# the build for its CUDA, e.g. make sweep TORCH="torch==2.13.0" with that build's index in your pip config.
TORCH ?= torch==2.13.0
SPACE ?= ot_reg
ARGS ?=

.PHONY: sweep test lint venv browser

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

sweep: venv
	RAY_USAGE_STATS_ENABLED=0 $(PY) run_sweep.py space=$(SPACE) $(ARGS)

# The dashboard test opens the page in headless Chromium; as root on Debian it is installed here when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "make: chromium is missing (Debian: sudo apt-get install chromium); the dashboard test will be skipped"; fi; }

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# pytest's exit status 5 (no test ran) is a failure here, not a pass. Two pytest-xdist workers, each taking whole
# test files, the longest first (tests/conftest.py, LONGEST_FIRST): issue 28's budget is 9 minutes on 2 cores.
TEST_WORKERS ?= 2
# Byte-compiled first: where PYTHONDONTWRITEBYTECODE is set (as on this CI's machines) no process writes its .pyc, so
# each of the suite's ~460 Python processes (Ray workers and agents, sweep drivers, bench runs) would compile what it
# imports of ours.
test: lint browser
	$(PY) -m compileall -q actot bench tests run_sweep.py >/dev/null
	WANDB_MODE=offline RAY_USAGE_STATS_ENABLED=0 $(PY) -m pytest -q tests -n $(TEST_WORKERS) --dist loadfile \
	  --no-loadscope-reorder; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: no test ran" >&2; exit 1; fi; exit $$rc

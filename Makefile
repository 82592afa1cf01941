# The README's two commands. Each installs what is missing (tools/bootstrap.sh;
# a second run skips the install) and then does its job.
SHELL := /bin/bash
.ONESHELL:
.PHONY: demo test test-all lint env gpu-check

env:
	@tools/bootstrap.sh >/dev/null

# Main job: synthetic data -> train detection / integral / integral+prior -> compare.
demo:
	@set -eo pipefail
	venv=$$(tools/bootstrap.sh | tail -n 1)
	"$$venv/bin/python" tools/demo.py $(DEMO_ARGS)

# Fast test suite (slow end-to-end tests excluded).
test:
	@set -eo pipefail
	venv=$$(tools/bootstrap.sh | tail -n 1)
	"$$venv/bin/python" -m pytest -q -m "not slow" $(PYTEST_ARGS)

# Lint gate (ruff, settings in pyproject.toml).
lint:
	@set -eo pipefail
	venv=$$(tools/bootstrap.sh | tail -n 1)
	"$$venv/bin/ruff" check .

# Everything, slow end-to-end tests included.
test-all:
	@set -eo pipefail
	venv=$$(tools/bootstrap.sh | tail -n 1)
	"$$venv/bin/python" -m pytest -q $(PYTEST_ARGS)

# GPU paths (CUDA tests, CUDA decoding, SBL-R50 train-step timing); writes the
# GPU section of docs/benchmarks.md. Without CUDA: says so and exits 0 at once.
gpu-check:
	@set -eo pipefail
	if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
		echo "gpu-check: CUDA is absent (no NVIDIA driver/GPU found): nothing to check; exit 0."
		exit 0
	fi
	venv=$$(tools/bootstrap.sh | tail -n 1)
	"$$venv/bin/python" tools/benchmark/gpu_check.py $(GPU_CHECK_ARGS)

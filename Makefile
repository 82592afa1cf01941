# The README's two commands. Each installs what is missing (tools/bootstrap.sh;
# a second run skips the install) and then does its job.
SHELL := /bin/bash
.ONESHELL:
.PHONY: demo test test-all env

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

# Everything, slow end-to-end tests included.
test-all:
	@set -eo pipefail
	venv=$$(tools/bootstrap.sh | tail -n 1)
	"$$venv/bin/python" -m pytest -q $(PYTEST_ARGS)

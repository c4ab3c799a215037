# The two set-up commands a newcomer runs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup browser demo test test-fast bench clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PYTHON) || $(PY) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

browser:
	@bash crawler/ensure_browser.sh

setup: $(STAMP) browser

demo: setup
	$(PYTHON) cli.py demo

test: setup
	$(PYTHON) -m pytest

test-fast: $(STAMP)
	$(PYTHON) -m pytest -m "not browser and not training and not slow"

bench: setup
	$(PYTHON) -m bench

clean:
	rm -rf $(VENV) .pytest_cache

# Quick start: `make train` (install + default experiment), `make test` (install + tests).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=
# pytest-xdist workers for `make test` (the suite in one process peaks at 5.4 GB): `make test WORKERS=4`
WORKERS ?= 2

.PHONY: install train test test-all lint docs bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)           ## the default experiment on the built-in synthetic dataset
	$(VENV)/bin/fungiclf-train $(ARGS)

test: $(STAMP)            ## the CI suite: everything not marked slow (< 10 min on 2 cores)
	$(VENV)/bin/pytest -m "not slow" -q -n $(WORKERS) --dist worksteal

test-all: $(STAMP)        ## every test, slow ones included
	$(VENV)/bin/pytest -q

lint: $(STAMP)            ## the formatter and the linter, as CI runs them (`ruff format .` fixes the first)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

docs: $(STAMP)            ## the documentation site into site/ (a broken link fails the build)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean:
	rm -rf outputs multirun .pytest_cache site

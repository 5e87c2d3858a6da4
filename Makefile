# Quick start: `make demo` then `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo
SCENARIO ?= announced

.PHONY: demo test check bench docs clean

$(BIN)/tallyproof: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(BIN)/tallyproof

demo: $(BIN)/tallyproof
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/tallyproof simulate --tables 30026 --seed 2024 --signed --scenario $(SCENARIO) --output $(DEMO)
	$(BIN)/tallyproof init --election ve2024 --db $(DEMO)/tallyproof.db
	$(BIN)/tallyproof registry import $(DEMO)/registry.csv --db $(DEMO)/tallyproof.db
	$(BIN)/tallyproof import $(DEMO)/sheets.csv --db $(DEMO)/tallyproof.db
	$(BIN)/tallyproof tabulate --db $(DEMO)/tallyproof.db
	$(BIN)/tallyproof tabulate --by state --db $(DEMO)/tallyproof.db
	scripts/demo_official.sh $(BIN) $(DEMO)
	scripts/demo_independent.sh $(BIN) $(DEMO)

test: $(BIN)/tallyproof
	$(BIN)/pytest -q

check: $(BIN)/tallyproof
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

docs: $(BIN)/tallyproof
	test -x $(BIN)/mkdocs || $(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/python docs/cli_reference.py
	$(BIN)/python docs/packages_svg.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --clean --site-dir site-docs

bench: $(BIN)/tallyproof
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python bench/bench_core.py --record
	$(BIN)/python bench/bench_reconcile.py --record
	$(BIN)/python bench/bench_log.py --record   # needs wrk (apt-get install wrk)
	$(BIN)/python bench/bench_photos.py --record   # needs libzbar0 (apt-get install libzbar0) and ../shared

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache

# Shortcuts for development. ./test.sh and ./run.sh set .venv up by themselves; the other
# targets install the project with its dev tools into .venv when pyproject.toml or setup.py
# changed.

PYTHON ?= python3
VENV := .venv
INSTALLED := $(VENV)/m3-installed-make

.PHONY: test run mutants bench

test:  ## ruff, mypy, import contracts, the whole suite (PostgreSQL too with TEST_DATABASE_URL)
	./test.sh

run:  ## the bot with Slack tokens, the demo without
	./run.sh

mutants: $(INSTALLED)  ## mutation testing by hand, not in CI (MUTANTS="bot.rules*" for one module)
	$(VENV)/bin/python scripts/mutants.py $(MUTANTS)

bench: $(INSTALLED)  ## the benchmarks (minutes each; see benchmarks/README.md)
	$(VENV)/bin/python benchmarks/import_benchmark.py
	$(VENV)/bin/python benchmarks/digest_benchmark.py

$(INSTALLED): pyproject.toml setup.py
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

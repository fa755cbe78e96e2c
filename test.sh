#!/usr/bin/env bash
# Sets everything up (a virtualenv in .venv from pyproject.toml) and runs the checks and tests:
# ruff, mypy, the import contracts (lint-imports) and pytest, whose exit code is this script's.
# Database tests run on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set.
# The project is installed again only when pyproject.toml or setup.py changed (a stamp in .venv
# holds their hash), so a second run starts at once.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/m3-installed-dev
hash="$(cat pyproject.toml setup.py \
  | .venv/bin/python -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
if [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
  echo "$hash" > "$stamp"
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy bot commands jobs
.venv/bin/lint-imports --no-logo
# The suite on as many workers as the machine has cores (pytest-xdist): each worker has its
# own databases (a SQLite file, a PostgreSQL schema) and its own fake Slack.
exec .venv/bin/pytest -q -n auto "$@"

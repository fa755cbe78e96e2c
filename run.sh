#!/usr/bin/env bash
# Sets everything up (a virtualenv in .venv from pyproject.toml), applies the migrations and
# starts the main job: with Slack tokens set, the bot (`m3 run`); without, the demo on SQLite.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
.venv/bin/m3 db upgrade
if [ -n "${SLACK_BOT_TOKEN:-}" ]; then
  exec .venv/bin/m3 run
fi
exec .venv/bin/m3 demo

#!/usr/bin/env bash
# Sets everything up (a virtualenv in .venv from pyproject.toml), applies the migrations and
# starts the main job: with Slack tokens set, the bot (`m3 run`); without, the demo (demo.db).
# The project is installed again only when pyproject.toml or setup.py changed (a stamp in .venv
# holds their hash), so a second run starts at once.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/m3-installed-run
hash="$(cat pyproject.toml setup.py \
  | .venv/bin/python -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
if [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
  echo "$hash" > "$stamp"
fi
if [ -n "${SLACK_BOT_TOKEN:-}" ]; then
  .venv/bin/m3 db upgrade
  exec .venv/bin/m3 run
fi
# Without tokens, the demo, in a file of its own unless DATABASE_URL names one (m3 demo refuses
# a database that holds an agency's data, so the agency's m3.db is never mixed with it).
export DATABASE_URL="${DATABASE_URL:-sqlite:///demo.db}"
.venv/bin/m3 db upgrade
exec .venv/bin/m3 demo

#!/usr/bin/env bash
# Creates .venv (if missing) and installs pgkit with its test tools into it.
# torch is pinned by constraints.txt to the CPU wheel; pass PGKIT_EXTRAS to choose extras.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[${PGKIT_EXTRAS:-test}]"
echo "pgkit installed in .venv: run .venv/bin/pgkit --help"

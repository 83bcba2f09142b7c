#!/usr/bin/env bash
# Creates .venv (if missing) and installs pgkit with its test tools, and the first-party plugins in
# plugins/, into it. torch is pinned by constraints.txt to the CPU wheel; PGKIT_EXTRAS picks extras.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[${PGKIT_EXTRAS:-test}]" \
    -e plugins/pgkit-linear-baseline -e plugins/pgkit-cem
echo "pgkit installed in .venv: run .venv/bin/pgkit --help"

#!/usr/bin/env bash
# Set up a virtual environment with the development tools, lint, and run the test suite.
# The tests read real files from ../shared/samples (override with MOTIONCONS_SHARED).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"
.venv/bin/ruff check src tests benchmarks
.venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Set up a virtual environment, install motioncons, and run it on a built-in simulated dataset.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet .
.venv/bin/motioncons demo "${1:-motioncons-demo}"

#!/usr/bin/env bash
# Set up a virtual environment with the development tools, lint, type-check, build the wheel
# and the documentation, and run the test suite; then the Scipion plugin's tests in a Scipion
# environment (.venv-scipion).
# The tests read real files from ../shared/samples (override with MOTIONCONS_SHARED). The report
# is tested in Debian's Chromium and the consensus on Debian's RELION 3.1 (a real aligner); both
# are installed here when missing and when we may (root, apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."
if { ! command -v chromedriver || ! command -v relion_run_motioncorr; } >/dev/null 2>&1 \
        && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver relion \
        >/dev/null
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy
# The wheel builds (into a temporary folder) and ships the type marker and the report page.
wheel_dir="$(mktemp -d)"
[ -e build ] && keep_build=1 || keep_build=
trap 'rm -rf "$wheel_dir"; [ -n "$keep_build" ] || rm -rf build' EXIT
.venv/bin/python -m build --wheel --outdir "$wheel_dir/dist" . >"$wheel_dir/build.log" 2>&1 \
    || { cat "$wheel_dir/build.log"; exit 1; }
.venv/bin/python -m zipfile -l "$wheel_dir"/dist/*.whl > "$wheel_dir/contents"
grep -q "motioncons/py.typed" "$wheel_dir/contents"
grep -q "motioncons/figures/report_template.html" "$wheel_dir/contents"
grep -q "motioncons/formats/_relion_rows\..*\.so" "$wheel_dir/contents"  # the compiled reader
grep -q "motioncons/outputs/_numbers\..*\.so" "$wheel_dir/contents"  # the compiled formatter
grep -q "motioncons/figures/_canvas\..*\.so" "$wheel_dir/contents"  # the compiled drawing
grep -q "motioncons/figures/_overlay_codec\..*\.so" "$wheel_dir/contents"  # the compiled encoder
grep -q "motioncons_scipion/protocols.conf" "$wheel_dir/contents"
# The documentation site builds with no warning (broken links, bad docstrings).
.venv/bin/mkdocs build --strict --quiet --site-dir "$wheel_dir/site"
.venv/bin/python -m pytest "$@"
# The Scipion plugin, in real Scipion projects, in an environment of its own (Scipion pins
# numpy, scipy and matplotlib): the versions its headless runs were checked with.
python3 -m venv .venv-scipion
.venv-scipion/bin/python -m pip install --quiet --upgrade pip
.venv-scipion/bin/python -m pip install --quiet "scipion-pyworkflow==3.11.7" "scipion-em==3.11.1" \
    pytest -e ".[scipion]"
.venv-scipion/bin/python -m pytest -p no:cacheprovider -W ignore::DeprecationWarning \
    tests/scipion "$@"

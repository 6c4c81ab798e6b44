"""The benchmark scripts still import: they are run by hand, not by the tests, so a name they
use that the package no longer has would otherwise go unnoticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("bench_*.py")))
def test_a_benchmark_script_imports_and_has_a_help(script):
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), "--help"],
                            capture_output=True, text=True, timeout=120, cwd=BENCHMARKS)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout

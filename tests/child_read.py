"""Reading an input in a child process with a time limit: a test of a path that could hang
(a named pipe) or exhaust memory fails on a regression instead of hanging the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_READ = """
import sys
from pathlib import Path
from motioncons.formats import read_input
found = read_input(Path(sys.argv[1]))
for problem in found.problems:
    print(problem.source, "|", problem.reason, "|", problem.message)
print(len(found.trajectories), "read")
"""


def read_in_child(path: Path, timeout: float = 120) -> list[str]:
    """`read_input(path)` in a child process: a line ``source | reason | message`` for each
    problem, then ``N read``."""
    result = subprocess.run([sys.executable, "-c", _READ, str(path)], capture_output=True,
                            text=True, timeout=timeout, check=True)
    return result.stdout.splitlines()

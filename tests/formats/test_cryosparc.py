"""cryoSPARC exposures: a trajectory path that names a named pipe is that movie's problem."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from motioncons.simulation import formats as fmt

_READ = """
import sys
from pathlib import Path
from motioncons.formats import read_input
found = read_input(Path(sys.argv[1]))
for problem in found.problems:
    print(problem.source, "|", problem.reason, "|", problem.message)
print(len(found.trajectories), "read")
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_trajectory_that_is_a_named_pipe_is_unreadable_not_waited_for(tmp_path):
    names = [f"movie_{i}.tiff" for i in range(3)]
    shifts = [np.cumsum(np.full((8, 2), 0.5 + 0.1 * i), axis=0) for i in range(3)]
    cs = fmt.cryosparc_job(tmp_path / "project", names, shifts, 1.0)
    trajectories = sorted((tmp_path / "project" / "J5" / "motioncorrected").glob("*.npy"))
    trajectories[1].unlink()
    os.mkfifo(trajectories[1])
    # In a child process with a time limit: a regression fails instead of hanging.
    result = subprocess.run([sys.executable, "-c", _READ, str(cs)], capture_output=True,
                            text=True, timeout=120, check=True)
    lines = result.stdout.splitlines()
    assert lines[-1] == "2 read"
    [(source, reason, message)] = [line.split(" | ") for line in lines[:-1]]
    assert (source, reason) == (str(trajectories[1]), "unreadable")
    assert "not a regular file" in message

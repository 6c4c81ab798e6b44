"""cryoSPARC exposures: a trajectory path that names a named pipe is that movie's problem."""

from __future__ import annotations

import os

import numpy as np
import pytest

from motioncons.simulation import formats as fmt
from tests.child_read import read_in_child


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_trajectory_that_is_a_named_pipe_is_unreadable_not_waited_for(tmp_path):
    names = [f"movie_{i}.tiff" for i in range(3)]
    shifts = [np.cumsum(np.full((8, 2), 0.5 + 0.1 * i), axis=0) for i in range(3)]
    cs = fmt.cryosparc_job(tmp_path / "project", names, shifts, 1.0)
    trajectories = sorted((tmp_path / "project" / "J5" / "motioncorrected").glob("*.npy"))
    trajectories[1].unlink()
    os.mkfifo(trajectories[1])
    lines = read_in_child(cs)
    assert lines[-1] == "2 read"
    [(source, reason, message)] = [line.split(" | ") for line in lines[:-1]]
    assert (source, reason) == (str(trajectories[1]), "unreadable")
    assert "not a regular file" in message

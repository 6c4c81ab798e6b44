"""The screen every reader's trajectories pass: unusable ones become their movie's problem."""

from __future__ import annotations

import os

import numpy as np
import pytest

from motioncons.formats import common
from motioncons.trajectory import Trajectory, TrajectorySet
from tests.child_read import read_in_child


def _trajectory(i: int, frames: np.ndarray | None = None, shifts: np.ndarray | None = None,
                ) -> Trajectory:
    frames = np.arange(1, 6) if frames is None else frames
    shifts = np.cumsum(np.ones((len(frames), 2)), axis=0) if shifts is None else shifts
    return Trajectory(f"m{i}", f"m{i}.tiff", frames, shifts, 1.0, f"m{i}.star")


BAD = {
    1: ("nan_shifts", dict(shifts=np.array([[0.0, 0.0]] * 4 + [[np.nan, 0.0]]))),
    4: ("nan_shifts", dict(shifts=np.array([[0.0, 0.0]] * 4 + [[2e5, 0.0]]))),
    5: ("unreadable", dict(frames=np.array([1, 2, 2, 3, 4]))),
    8: ("unreadable", dict(frames=np.array([0, 1, 2, 3, 4]))),
    9: ("too_few_frames", dict(frames=np.zeros(0, dtype=np.int64), shifts=np.zeros((0, 2)))),
}


@pytest.mark.parametrize("chunk", [1, 2, 3, 8192])
def test_unusable_trajectories_become_problems_whatever_the_screen_chunk(chunk, monkeypatch):
    monkeypatch.setattr(common, "SCREEN_CHUNK", chunk)
    dataset = TrajectorySet("in", "test", [
        _trajectory(i, **(BAD[i][1] if i in BAD else {})) for i in range(11)])
    common.validate(dataset)
    assert [t.key for t in dataset.trajectories] == [f"m{i}" for i in range(11) if i not in BAD]
    assert {p.key: p.reason for p in dataset.problems} == {
        f"m{i}": reason for i, (reason, _) in BAD.items()}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
@pytest.mark.parametrize("kind", ["xmipp", "imod"])
def test_a_named_pipe_among_a_folders_results_is_unreadable_not_waited_for(tmp_path, kind):
    """A named pipe and a huge file among a folder's results are their movies' problems. In a
    child process with a time limit: a regression fails instead of hanging."""
    from motioncons.simulation import formats as fmt

    shifts = np.cumsum(np.full((8, 2), 0.5), axis=0)
    if kind == "xmipp":
        fmt.xmipp_xmd(tmp_path / "movie_a_shifts.xmd", "movie_a.mrcs", shifts)
        pipe = tmp_path / "movie_b_shifts.xmd"
    else:
        fmt.imod_xf(tmp_path / "movie_a.xf", shifts)
        pipe = tmp_path / "movie_b.xf"
    os.mkfifo(pipe)
    huge = pipe.with_name(pipe.name.replace("movie_b", "movie_c"))
    with open(huge, "wb") as handle:  # sparse: 300 MiB of zeros that take no disk
        handle.truncate(300 << 20)
    lines = read_in_child(tmp_path)
    assert lines[-1] == "1 read"
    problems = {source: (reason, message) for source, reason, message in
                (line.split(" | ") for line in lines[:-1])}
    assert sorted(problems) == sorted([str(pipe), str(huge)])
    assert {reason for reason, _ in problems.values()} == {"unreadable"}
    assert "not a regular file" in problems[str(pipe)][1]
    assert "larger than 256 MiB" in problems[str(huge)][1]

"""The screen every reader's trajectories pass: unusable ones become their movie's problem."""

from __future__ import annotations

import numpy as np
import pytest

from motioncons.formats import common
from motioncons.trajectory import Trajectory, TrajectorySet


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

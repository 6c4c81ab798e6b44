from __future__ import annotations

import re

import numpy as np
import pytest

from motioncons.matching import movie_key, pair_sets
from motioncons.trajectory import Problem, Trajectory, TrajectorySet


@pytest.mark.parametrize(("name", "key"), [
    ("Movies/20170629_00021_frameImage.tiff", "20170629_00021_frameImage"),
    ("MotionCorr/job002/Movies/20170629_00021_frameImage.star", "20170629_00021_frameImage"),
    ("frames/TS_01_000_0.0.mrc", "TS_01_000_0_0"),
    ("MotionCorr/job002/frames/TS_01_000_0_0.star", "TS_01_000_0_0"),
    ("FoilHole_1_Data_2_3_20240101_120000_fractions.tiff", "FoilHole_1_Data_2_3_20240101_120000"),
    ("J12/motioncorrected/012345678901234567890_movie_001_patch_aligned_doseweighted.mrc",
     "movie_001"),
    ("movie_001_rigid_traj.npy", "movie_001"),
    ("logs/movie_001-Patch-Full.log", "movie_001"),
    ("movie_001_DW.mrc", "movie_001"),
    ("C:\\data\\movie_001.eer", "movie_001"),
])
def test_movie_key(name, key):
    assert movie_key(name) == key


def test_movie_key_with_regex():
    assert movie_key("x/Data_123_abc.tiff", re.compile(r"Data_(\d+)")) == "123"


def _set(path, keys, problems=()):
    trajectories = [Trajectory(k, k, np.arange(1, 4), np.zeros((3, 2)), 1.0, path) for k in keys]
    issues = [Problem(k, k, path, "unreadable", f"{path}: bad") for k in problems]
    return TrajectorySet(path, "test", trajectories, issues)


def test_pairing_by_key_not_order_and_unmatched_reports():
    ref = _set("r", ["a", "b", "c"], problems=["d"])
    sec = _set("s", ["c", "a", "x", "d"])
    matching = pair_sets(ref, sec)
    assert [p.key for p in matching.pairs] == ["a", "c", "d"]
    assert matching.only_in_reference == ["b"]
    assert matching.only_in_secondary == ["x"]
    assert [p.reason for p in matching.pairs[2].problems] == ["unreadable"]


def test_duplicate_keys_are_reported():
    matching = pair_sets(_set("r", ["a", "a"]), _set("s", ["a"]))
    assert len(matching.pairs) == 1 and len(matching.duplicates) == 1


def test_a_movie_ending_in_0_keeps_its_digit_and_old_style_logs_still_pair(tmp_path):
    """MotionCor2 ≥ 1.4.6 names logs <movie>-Patch-Full.log; ≤ 1.4.5 <prefix>0-Patch-Full.log."""
    assert movie_key("FoilHole_1_Data_2_13.08.20-Patch-Full.log") == "FoilHole_1_Data_2_13_08_20"
    assert movie_key("mov_130-Full.log") == "mov_130"
    from motioncons.formats import read_input
    from motioncons.simulation.formats import motioncor_log

    shifts = np.cumsum(np.ones((10, 2)), axis=0)
    motioncor_log(tmp_path / "logs" / "movie_1230-Patch-Full.log", shifts)  # old style, "0"
    motioncor_log(tmp_path / "logs" / "movie_20-Patch-Full.log", shifts)  # new style
    logs = read_input(tmp_path / "logs", pixel_size=1.0)
    ref = _set("r", ["movie_123", "movie_20"])
    matching = pair_sets(ref, logs)
    assert sorted(p.key for p in matching.pairs) == ["movie_123", "movie_20"]
    assert not matching.only_in_secondary

from __future__ import annotations

import csv

import numpy as np

from motioncons.formats import read_input
from motioncons.simulation.trajectories import SimulationConfig, simulate_movies, write_simulation


def test_simulated_motion_is_realistic():
    movies = simulate_movies(SimulationConfig(movies=200, seed=3, failure_fraction=0.0))
    frames = [m.reference.shape[0] for m in movies]
    assert min(frames) >= 20 and max(frames) <= 80
    ranges = np.array([np.ptp(m.truth_ref, axis=0).max() for m in movies])
    assert np.median(ranges) > 4 and ranges.max() > 15 and ranges.min() < 3
    for m in movies[:20]:
        steps = np.hypot(*np.diff(m.truth_ref, axis=0).T)
        assert steps[:3].mean() > steps[-5:].mean()  # fast early motion decays into drift


def test_failures_and_ground_truth(tmp_path):
    info = write_simulation(tmp_path, SimulationConfig(movies=60, seed=2, failure_fraction=0.5))
    assert sum(v for k, v in info["failures"].items() if k != "none") == 30
    with open(info["ground_truth"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 60
    assert {r["expected"] for r in rows if r["failure"] != "none"} == {"discarded"}
    reference = read_input(info["reference"])
    secondary = read_input(info["secondary"])
    assert len(reference.trajectories) == len(secondary.trajectories) == 60
    assert not reference.problems and not secondary.problems


def test_eer_like_fractions_and_first_frame(tmp_path):
    info = write_simulation(tmp_path, SimulationConfig(movies=5, eer=True,
                                                       reference_first_frame=3))
    reference = read_input(info["reference"])
    secondary = read_input(info["secondary"])
    for ref, sec in zip(reference.trajectories, secondary.trajectories, strict=True):
        assert ref.total_frames < sec.total_frames  # grouped by 32 vs 25
        assert ref.frames[0] == 3 and ref.extras["unobserved_frames"] == 2
        assert ref.extras["eer_grouping"] == "32"

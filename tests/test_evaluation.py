"""Evaluation: Å-only trajectories take the paired movie's pixel size without being rewritten,
and the summary says where each pixel size came from."""

from __future__ import annotations

import numpy as np

from motioncons.evaluation import Options, pixel_size_sources, prepare
from motioncons.matching import pair_sets
from motioncons.trajectory import Trajectory, TrajectorySet


def _sets():
    shifts = np.cumsum(np.ones((10, 2)), axis=0)
    relion = Trajectory("m", "m.tif", np.arange(1, 11), shifts, 0.5, "r.star")
    angstrom = shifts * 0.5
    cistem = Trajectory("m", "m.txt", np.arange(1, 11), angstrom.copy(), None, "m.txt",
                        extras={"angstrom": angstrom, "needs_pixel_size": True})
    return TrajectorySet("r", "relion", [relion]), TrajectorySet("c", "cistem", [cistem])


def test_angstrom_shifts_take_the_paired_pixel_size_without_rewriting_the_input():
    reference, secondary = _sets()
    comparison = prepare(reference, secondary, Options())
    pair = comparison.valid[0]
    np.testing.assert_allclose(pair.samples.secondary, pair.samples.reference)
    assert secondary.trajectories[0].pixel_size is None  # the input is not rewritten
    assert secondary.trajectories[0].extras["needs_pixel_size"] is True
    assert pixel_size_sources(pair_sets(reference, secondary).pairs) == {
        "file": 1, "paired movie": 1}
    assert any("1 from paired movie" in note for note in comparison.notes)

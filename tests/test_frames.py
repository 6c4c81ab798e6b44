from __future__ import annotations

import numpy as np
import pytest

from motioncons.frames import TooFewFrames, common_samples
from motioncons.trajectory import Trajectory


def _t(frames, shifts, total=None):
    frames = np.asarray(frames, dtype=np.int64)
    return Trajectory("m", "m.tiff", frames, np.asarray(shifts, dtype=float), 1.0, "src",
                      total_frames=total)


def test_common_frames_only():
    ref = _t([2, 3, 4, 5], [[0, 0], [1, 1], [2, 2], [3, 3]], total=5)
    sec = _t([1, 2, 3, 4, 5], [[9, 9], [0, 0], [1, 1], [2, 2], [3, 3]], total=5)
    samples = common_samples(ref, sec)
    assert samples.frames.tolist() == [2, 3, 4, 5]
    np.testing.assert_array_equal(samples.reference, samples.secondary)
    assert not samples.resampled


def test_too_few_common_frames():
    ref = _t([1, 2, 3], np.zeros((3, 2)))
    sec = _t([3, 4, 5], np.zeros((3, 2)))
    with pytest.raises(TooFewFrames, match="1 common frame"):
        common_samples(ref, sec)


def test_different_grouping_is_resampled_on_the_exposure_axis():
    # A linear drift sampled at 10 and at 25 fractions of the same exposure.
    def linear(n):
        t = (np.arange(1, n + 1) - 0.5) / n
        return _t(np.arange(1, n + 1), np.column_stack([10 * t, -4 * t]), total=n)

    samples = common_samples(linear(10), linear(25))
    assert samples.resampled
    np.testing.assert_allclose(samples.reference, samples.secondary, atol=1e-12)
    assert samples.frames.size >= 8
    samples = common_samples(linear(25), linear(10))
    np.testing.assert_allclose(samples.reference, samples.secondary, atol=1e-12)

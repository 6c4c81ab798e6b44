from __future__ import annotations

import sys

import numpy as np

from motioncons.outputs.numbers import finite_formatted


def test_a_column_is_formatted_as_each_value_alone():
    rng = np.random.default_rng(11)
    values = [*rng.normal(0, 10.0 ** rng.integers(-12, 12, 500)).tolist(), 0.0, -0.0, 1.0,
              5e-324, -sys.float_info.max, sys.float_info.min, 123456789012345678.0, 0.1]
    for spec in ("%.17g", "%.6f", "%.3g"):
        assert finite_formatted(values, spec) == [spec % v for v in values]
        assert finite_formatted(values[:1], spec) == [spec % values[0]]
    assert finite_formatted([], "%.17g") == []


def test_anything_but_finite_floats_is_left_to_the_caller():
    for odd in (float("nan"), float("inf"), -float("inf"), 1, True, None, "1.0"):
        assert finite_formatted([1.5, odd, 2.5], "%.17g") is None, odd

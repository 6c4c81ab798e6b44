from __future__ import annotations

import math
import struct
import sys

import numpy as np
import pytest

from motioncons.outputs import numbers
from motioncons.outputs.numbers import finite_formatted

pytestmark = pytest.mark.usefixtures("number_formatter")  # compiled, then in Python


def test_a_column_is_formatted_as_each_value_alone():
    rng = np.random.default_rng(11)
    values = [*rng.normal(0, 10.0 ** rng.integers(-12, 12, 500)).tolist(), 0.0, -0.0, 1.0,
              5e-324, -sys.float_info.max, sys.float_info.min, 123456789012345678.0, 0.1]
    for spec in ("%.17g", "%.6f", "%.3g"):
        assert finite_formatted(values, spec) == [spec % v for v in values]
        assert finite_formatted(tuple(values[:1]), spec) == [spec % values[0]]
    assert finite_formatted([], "%.17g") == []
    assert finite_formatted((), "%.6f") == []


def test_anything_but_finite_floats_is_left_to_the_caller():
    class Subclass(float):
        pass

    for odd in (float("nan"), -float("nan"), float("inf"), -float("inf"), 1, True, None,
                "1.0", np.float64(1.5), Subclass(1.5)):
        assert finite_formatted([1.5, odd, 2.5], "%.17g") is None, odd
        assert finite_formatted((odd,), "%.6f") is None, odd


def test_undefined_numbers_are_given_as_the_missing_text_when_one_is_given():
    values = [1.5, float("nan"), -float("inf"), 0.1, float("inf"), -0.0, -float("nan")]
    for spec, missing in (("%.17g", ""), ("%.6f", "nan"), ("%.3g", "?")):
        assert finite_formatted(values, spec, missing) == [
            spec % v if math.isfinite(v) else missing for v in values]
        assert finite_formatted(values, spec) is None
        assert finite_formatted([float("nan")] * 3, spec, missing) == [missing] * 3
    for odd in (1, None, "1.0", np.float64(1.5), True):
        assert finite_formatted([1.5, float("nan"), odd], "%.17g", "") is None, odd


def test_specs_the_compiled_formatter_does_not_take_are_formatted_by_python():
    values = [1.25, -3.5e-7, 12345.678]
    for spec in ("%.70g", "%.2e", "%g", "%10.3f", "%.3f%%"):
        assert finite_formatted(values, spec) == [spec % v for v in values], spec


def test_the_compiled_formatter_writes_what_python_writes(number_formatter):
    """Differential: the compiled formatter against Python's %-format on 350,000 doubles of
    every kind: any bit pattern (subnormals, extremes), a few decimals (what RELION writes),
    and exact ties of the last digit kept (dyadic fractions, rounded half to even)."""
    if number_formatter != "compiled":
        pytest.skip("compares the compiled formatter with Python's")
    rng = np.random.default_rng(2026)
    bits = rng.integers(0, 2**64, 150_000, dtype=np.uint64)
    patterns = [v for v in struct.unpack(f"{len(bits)}d", bits.tobytes()) if v - v == 0]
    decimals = rng.integers(-10**9, 10**9, 100_000) / 10.0 ** rng.integers(0, 9, 100_000)
    ties = rng.integers(-2**40, 2**40, 100_000) / 2.0 ** rng.integers(1, 60, 100_000)
    values = [*patterns, *decimals.tolist(), *ties.tolist(), 0.0078125, 2.5, 0.5, -0.0]
    for spec in ("%.17g", "%.6f", "%.3g", "%.0f", "%.15g"):
        for start in range(0, len(values), 4096):
            part = values[start: start + 4096]
            assert finite_formatted(part, spec) == [spec % v for v in part], (spec, start)


def test_the_compiled_formatter_is_exact_where_digits_roll_over(number_formatter):
    """Around every power of ten (where the number of digits changes and rounding can carry
    into a new digit) and the limits of the formatter's exact integer path (a scale of
    5**27, 2**63 digits), the neighbouring doubles come out as Python writes them."""
    if number_formatter != "compiled":
        pytest.skip("compares the compiled formatter with Python's")
    centres = [10.0 ** k for k in range(-30, 31)] + [2.0 ** k for k in range(-80, 80)] + [
        9.5, 0.95, 99.5, 0.0000095, 9.9999999999999995, 0.99999999999999994, 1e-11 * 0.99,
        9.2233720368547758e18 / 10 ** 6, 9.2233720368547758e18 / 10 ** 17, 5e-7, 5e-18]
    values = []
    for centre in centres:
        above = below = centre
        for _ in range(6):
            above, below = math.nextafter(above, math.inf), math.nextafter(below, -math.inf)
            values += [above, below]
        values += [centre, -centre]
    for spec in ("%.17g", "%.16g", "%.6f", "%.1g", "%.0g", "%.17f", "%.1f"):
        assert finite_formatted(values, spec) == [spec % v for v in values], spec


def test_the_compiled_formatter_refuses_codes_it_does_not_know(number_formatter):
    if number_formatter != "compiled":
        pytest.skip("the compiled formatter's own checks")
    for code, precision in (("e", 3), ("g", -1), ("f", 61)):
        with pytest.raises(ValueError, match="code must be"):
            numbers.COMPILED.finite_formatted([1.5], code, precision)
    with pytest.raises(TypeError):
        numbers.COMPILED.finite_formatted(1.5, "g", 17)
    with pytest.raises(TypeError, match="missing must be"):
        numbers.COMPILED.finite_formatted([1.5], "g", 17, b"")


TEXTS = ["", "a", "plain_01.tif", "Ångström", "séance 2", "日本語", "🎉 party", '"q"', "x\ny"]


@pytest.mark.parametrize("separator,end", [(",", "\n"), (" ", "\n"), (" -- ", "\r\n"),
                                           ("é", "€\n"), ("", "")])
def test_a_table_of_text_is_joined_as_its_rows_joined_one_by_one(separator, end):
    rng = np.random.default_rng(3)
    for width in (1, 2, 5):
        for rows in (0, 1, 7, 300):
            columns = [[TEXTS[i] for i in rng.integers(0, len(TEXTS), rows)]
                       for _ in range(width)]
            expected = "".join(separator.join(items) + end for items in zip(*columns, strict=True))
            assert numbers.joined_lines(columns, separator, end) == expected
    assert numbers.joined_lines([], ",") == ""
    ascii_only = [["a", "b"], ["1", "2"]]
    assert numbers.joined_lines(ascii_only, ",") == "a,1\nb,2\n"


def test_the_compiled_joiner_refuses_what_is_not_a_table_of_text(number_formatter):
    if number_formatter != "compiled":
        pytest.skip("the compiled joiner's own checks")
    join = numbers.COMPILED.joined_lines
    with pytest.raises(ValueError, match="differ in length"):
        join([["a", "b"], ["c"]], ",", "\n")
    with pytest.raises(TypeError, match="must be a str"):
        join([["a", 1]], ",", "\n")
    with pytest.raises(TypeError, match="must be a list"):
        join([("a",)], ",", "\n")
    with pytest.raises(TypeError):
        join(("a",), ",", "\n")

import random

import pytest

from motioncons.formats.packed_lines import PackedLines


def _lines(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    pieces = ["MotionCorr/job002/Movies/a.mrc", '"name with spaces"', "Élodie_µ", "", "1",
              "line\nbreak", "-3.250000", "\t", "日本語"]
    return [" ".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
            for _ in range(count)]


@pytest.mark.parametrize("count", [0, 1, 9, 10, 11, 35])
def test_the_lines_read_back_unchanged_in_order_by_index_and_by_slice(count):
    lines = _lines(count)
    packed = PackedLines(iter(lines), block=10)
    assert len(packed) == count
    assert list(packed) == lines
    assert packed == lines and lines == packed and packed == PackedLines(lines, block=4)
    assert [packed[i] for i in range(count)] == lines
    assert [packed[-i] for i in range(1, count + 1)] == [lines[-i] for i in range(1, count + 1)]
    for start in range(-2, count + 3, 3):
        for stop in range(-2, count + 3, 4):
            for step in (None, 2):
                assert packed[start:stop:step] == lines[start:stop:step]


def test_an_index_out_of_range_is_an_index_error():
    packed = PackedLines(["a", "b"])
    with pytest.raises(IndexError):
        packed[2]
    with pytest.raises(IndexError):
        packed[-3]


def test_a_table_s_rows_take_a_fraction_of_their_size_as_strings():
    lines = [f"MotionCorr/job002/Movies/FoilHole_{i // 7}_Data_{i:05d}_fractions.mrc "
             f"MotionCorr/job002/Movies/FoilHole_{i // 7}_Data_{i:05d}_fractions.star 1 "
             f"{i * 0.37 % 40:.6f} {i * 0.11 % 9:.6f} {i * 0.23 % 30:.6f}" for i in range(5000)]
    packed = PackedLines(lines)
    stored = sum(map(len, packed._blocks)) + sum(ends.nbytes for ends in packed._ends)
    assert stored * 4 < sum(map(len, lines))

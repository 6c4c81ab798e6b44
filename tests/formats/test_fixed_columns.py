"""Shift rows read by position give exactly what ``float()`` gives for each value (its sign
of zero included), on RELION's own files and on generated ones, and a block whose rows are not
all in the columns of its first row is left alone."""

from __future__ import annotations

import numpy as np
import pytest

from motioncons.formats import fixed_columns, relion_batch
from motioncons.formats.fixed_columns import parse_rows, parse_rows_numpy

pytestmark = pytest.mark.usefixtures("row_parser")  # each test with both readers


def _block(values: np.ndarray, frame_width: int = 12, width: int = 13,
           decimals: int = 6) -> bytes:
    return b"".join(f"{i + 1:>{frame_width}d}{x:>{width}.{decimals}f}{y:>{width}.{decimals}f}\n"
                    .encode() for i, (x, y) in enumerate(values))


def _as_float(block: bytes) -> np.ndarray:
    """What the general reader makes of the rows: ``float()`` of each x and y word."""
    words = block.split()
    return np.array([[float(x), float(y)] for x, y in zip(words[1::3], words[2::3],
                                                          strict=True)])


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.tobytes() == b.tobytes()  # -0.0 differs from 0.0 here


def test_values_are_those_float_reads_bit_for_bit():
    rng = np.random.default_rng(7)
    blocks = []
    for i in range(60):
        values = rng.normal(0, 10.0 ** rng.integers(-3, 5), (int(rng.integers(1, 90)), 2))
        values[rng.random(values.shape) < 0.05] = -0.0
        values[rng.random(values.shape) < 0.02] = -1e-9  # written as -0.000000
        decimals = [6, 6, 3, 9][i % 4]
        blocks.append(_block(values, frame_width=[12, 6, 12, 4][i % 4],
                             width=max(13, decimals + 8), decimals=decimals))
    spans, shifts = parse_rows(blocks)
    assert None not in spans
    for block, span in zip(blocks, spans, strict=True):
        assert span is not None
        assert _same(shifts[span[0]: span[1]], _as_float(block))
    assert (np.signbit(shifts) & (shifts == 0)).any()


def _relion_style(values: np.ndarray, rng: np.random.Generator) -> bytes:
    """As RELION writes the rows: each number with as many decimals as fit in its 12
    characters (fewer for a negative one), right-aligned, a space after the last."""
    rows = []
    for i, pair in enumerate(values):
        texts = [f"{v:.{int(rng.integers(1, 9))}f}" for v in pair]
        rows.append(f"{i + 1:>12d} {texts[0]:>12} {texts[1]:>12} \n".encode())
    return b"".join(rows)


def test_rows_with_decimals_varying_from_row_to_row_are_read_as_float_reads_them():
    rng = np.random.default_rng(9)
    blocks = [_relion_style(rng.normal(0, 30, (int(rng.integers(1, 60)), 2)), rng)
              for _ in range(40)]
    spans, shifts = parse_rows(blocks)
    for block, span in zip(blocks, spans, strict=True):
        assert span is not None and _same(shifts[span[0]: span[1]], _as_float(block))


def test_relion_own_files_are_read_by_position(relion31, relion5):
    files = sorted(relion31.glob("2017*.star")) + sorted(relion5.glob("2017*.star"))
    cut = [relion_batch._cut(path.read_bytes()) for path in files]
    blocks = [found[1] for found in cut if found is not None]
    assert len(blocks) == len(files) >= 6
    spans, shifts = parse_rows(blocks)
    for block, span in zip(blocks, spans, strict=True):
        assert span is not None and _same(shifts[span[0]: span[1]], _as_float(block))


def test_blocks_of_several_layouts_keep_their_own_values(row_parser):
    rng = np.random.default_rng(8)
    blocks = [_block(rng.normal(0, 5, (7 + i, 2)), frame_width=10 + i % 3) for i in range(9)]
    spans, shifts = parse_rows(blocks)
    if row_parser == "python":  # numpy reads the blocks of one layout together
        assert sorted(span[0] for span in spans if span) != [span[0] for span in spans if span]
    for block, span in zip(blocks, spans, strict=True):
        assert span is not None and _same(shifts[span[0]: span[1]], _as_float(block))


GOOD = _block(np.array([[0.0, 0.0], [1.25, -3.5], [-12.000001, 99999.5], [0.5, -0.25]]))


@pytest.mark.parametrize(("old", "new"), [
    (b"           2     1.250000", b"          2      1.250000"),  # a row out of line
    (b"           2     1.250000", b"           2\t    1.250000"),
    (b"           2 ", b"          02 "),
    (b"           2 ", b"   100000002 "),  # 2 in its last 8 digits
    (b"           3 ", b"           4 "),
    (b"           1 ", b"           0 "),
    (b"    1.250000", b"    1.25e+00"),
    (b"    1.250000", b"   +1.250000"),
    (b"    1.250000", b"  --1.250000"),
    (b"    1.250000", b"  - 1.250000"),
    (b"    1.250000", b"   1-.250000"),
    (b"    1.250000", b"    1-250000"),
    (b"    1.250000", b"    1.2500 0"),
    (b"    1.250000", b"    1.25000."),
    (b"    1.250000", b"    1.25.000"),
    (b"    1.250000", b"     125000."),
    (b"           2     1.250000", b"           2111111.250000"),  # no space before x
    (b"    1.250000", b"     .250000"),
    (b"   -3.500000\n", b"   -3.5000001"),  # no line break: the next row runs on
    (b"   -3.500000\n", b"   -3.500000\r\n"),
    (b"   -3.500000\n", b"   -3.500000\n\n"),
    (b"   -3.500000\n", b"   -3.500000\n           2     1.250000    -3.500000\n"),
])
def test_a_block_out_of_its_layout_is_left_to_the_general_reader(old, new):
    assert old in GOOD and (len(old) == len(new) or b"\n" in old)
    bad = GOOD.replace(old, new, 1)
    spans, shifts = parse_rows([GOOD, bad, GOOD])
    assert spans[1] is None
    assert spans[0] is not None and spans[2] is not None
    assert _same(shifts[spans[2][0]: spans[2][1]], _as_float(GOOD))


def test_only_spaces_may_follow_the_last_number_of_a_row():
    rows = _relion_style(np.array([[0.0, 0.0], [1.5, -2.25], [3.0, 4.5]]),
                         np.random.default_rng(1))
    assert rows.endswith(b" \n")
    bad = rows[:-2] + b"7\n"  # the last y shift one digit longer
    assert parse_rows([rows, bad])[0][1] is None


def test_numbers_too_long_to_be_exact_are_left_to_the_general_reader():
    long_digits = b"".join(f"{i + 1:>4d}{1.5:>22.15f}{2.5:>22.15f}\n".encode()
                           for i in range(3))
    long_frames = b"".join(f"{i + 1:>12d}{1.5:>13.6f}{2.5:>13.6f}\n".encode()
                           for i in range(3)).replace(b"           1", b"000000000001")
    assert parse_rows([long_digits, long_frames])[0] == [None, None]


def test_fifteen_digits_are_read_and_sixteen_left_alone():
    fifteen = b"".join(f"{i + 1:>4d}{1.5:>17.14f}{-2.5:>17.13f}\n".encode() for i in range(3))
    sixteen = b"".join(f"{i + 1:>4d}{1.5:>18.15f}{2.5:>13.6f}\n".encode() for i in range(3))
    spans, shifts = parse_rows([fifteen, sixteen])
    assert spans[1] is None and spans[0] is not None
    assert _same(shifts[spans[0][0]: spans[0][1]], _as_float(fifteen))


def test_nothing_to_read():
    spans, shifts = parse_rows([])
    assert spans == [] and shifts.shape == (0, 2)


def test_rows_read_a_piece_at_a_time_are_the_same(monkeypatch):
    rng = np.random.default_rng(10)
    blocks = [_relion_style(rng.normal(0, 30, (int(rng.integers(1, 30)), 2)), rng)
              for _ in range(30)]
    blocks[7] = blocks[7].replace(b".", b",", 1)
    whole = parse_rows(blocks)
    monkeypatch.setattr(fixed_columns, "PIECE_BYTES", 300)
    pieces = parse_rows(blocks)
    assert whole[0] == pieces[0] and whole[0][7] is None
    assert _same(whole[1], pieces[1])


def test_damaged_rows_never_raise_and_what_is_read_is_what_float_reads():
    """Seeded byte edits of blocks with wide fields (a row of many dots once crashed the
    reader): each block is read as ``float()`` reads it, or left alone."""
    rng = np.random.default_rng(12)
    alphabet = np.frombuffer(b"0123456789.- \n+eE\t", dtype=np.uint8)
    pristine = b"".join(f"{i + 1:>4d}{1.5 + i:>17.6f}{-7.25 * i:>17.9f} \n".encode()
                        for i in range(6))
    for _ in range(400):
        data = np.frombuffer(pristine, dtype=np.uint8).copy()
        where = rng.integers(len(pristine) // 6, len(pristine), int(rng.integers(1, 12)))
        data[where] = rng.choice(alphabet, len(where))
        blocks = [bytes(data), pristine]
        spans, shifts = parse_rows(blocks)
        assert spans[1] is not None
        for block, span in zip(blocks, spans, strict=True):
            if span is not None:
                assert _same(shifts[span[0]: span[1]], _as_float(block))


def test_a_row_of_many_dots_in_a_wide_field_is_left_alone():
    rows = [f"{i + 1:>4d}{1.5 + i:>17.6f}{-7.25:>17.6f}\n" for i in range(3)]
    rows[1] = "   2 1.2.3.4.5.6.7.80" + f"{-7.25:>17.6f}\n"
    assert parse_rows(["".join(rows).encode()])[0] == [None]


def test_the_compiled_reader_reads_what_numpy_reads(row_parser):
    """Seeded byte edits over every character class the rules tell apart, in narrow and wide
    fields and in the first row (which fixes the columns): the same blocks left alone, the
    same floats, bit for bit, from both readers."""
    if row_parser != "compiled":
        pytest.skip("compares the compiled reader with numpy's")
    rng = np.random.default_rng(13)
    alphabets = [np.frombuffer(b"0123456789.- \n+eE\t\r\x00\xff#", dtype=np.uint8),
                 np.frombuffer(b"0123456789", dtype=np.uint8),
                 np.frombuffer(b"0123456789 -", dtype=np.uint8)]
    pristine = [
        b"".join(f"{i + 1:>4d}{1.5 + i:>17.6f}{-7.25 * i:>17.9f} \n".encode() for i in range(6)),
        _relion_style(rng.normal(0, 30, (9, 2)), rng),
        _block(np.array([[0.0, -0.0], [1.0, -2.5]]), frame_width=1, width=4, decimals=1),
    ]
    read = 0
    for _ in range(1500):
        source = pristine[int(rng.integers(len(pristine)))]
        data = np.frombuffer(source, dtype=np.uint8).copy()
        kind = int(rng.integers(3))  # anything anywhere; digits for digits; digits, - or space
        digits = np.flatnonzero((data >= 48) & (data <= 57))
        places = digits if kind == 1 else np.arange(len(data))
        where = rng.choice(places, int(rng.integers(1, 6)))
        data[where] = rng.choice(alphabets[kind], len(where))
        cut = int(rng.integers(len(source) - 3, len(source) + 1)) if kind == 0 else len(source)
        blocks = [bytes(data[:cut]), source, bytes(data)]
        compiled = parse_rows(blocks)
        numpy_read = parse_rows_numpy(blocks)
        assert [span is None for span in compiled[0]] == [span is None for span in numpy_read[0]]
        for i, (a, b) in enumerate(zip(compiled[0], numpy_read[0], strict=True)):
            if a is not None and b is not None:
                read += i != 1
                assert _same(compiled[1][a[0]: a[1]], numpy_read[1][b[0]: b[1]])
    assert read > 500, read  # edits that keep to the rules

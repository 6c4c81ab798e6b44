"""RELION's global shift rows read by position: the fast path of the bulk reader.

RELION writes ``data_global_shift`` in fixed-width columns (a frame number, then the x and y
shifts, each right-aligned in its field, with as many decimals as the field holds), so every row
of a file, and of every file of a job, has the same length and the same fields. Here the rows of
many files are stacked into one byte matrix, every character checked against the fields of the
first row, and the numbers assembled from their digits column by column: a few numpy passes over
the bytes, not a Python float per value.

Exact: a field's digits make an integer below 10**15 (so exact in float64), and dividing it by
its power of ten (exact too) is rounded once, to the nearest float, as ``float()`` rounds the
same decimal text. A file whose rows are not exactly in the layout is left to the
caller (`None`), which reads it in the general way.

The same rules are compiled in ``_relion_rows.c``, one pass over each block instead of a few
dozen numpy passes (about a fifth of the time a file): `parse_rows` uses it where it was built
(`compiled`); the tests check that both give the same floats.
"""

from __future__ import annotations

import functools
import re

import numpy as np

from . import compiled

_FIRST_ROW = re.compile(rb"( *[1-9][0-9]*)( +-?[0-9]+\.[0-9]+)( +-?[0-9]+\.[0-9]+)( *)\n")
MAX_DIGITS = 15
"""Digits of a shift (integer and decimals): below 10**15, exact in a float64."""
FRAME_DIGITS = 8
"""Digits of a frame number read (frames go up to `common.MAX_FRAME_NUMBER`, 7 digits)."""
_INTEGER_POWERS = 10 ** np.arange(MAX_DIGITS + 1, dtype=np.int64)
_POWERS = _INTEGER_POWERS.astype(np.float64)
"""Exact in float64 (up to 10**22)."""

PIECE_BYTES = 256 * 1024
"""Rows read at once: each pass over them stays in the processor's cache (2,000 files at once
took twice as long as 200 at a time)."""

Layout = tuple[int, int, int, int]
"""Where the frame number, the x shift and the y shift end, and the row's width."""


def parse_rows(blocks: list[bytes]) -> tuple[list[tuple[int, int] | None], np.ndarray]:
    """Each block's rows, frames 1..n, read by position: for every block its (start, end) in
    the returned (N, 2) array of x and y shifts, or None where its rows are not all in the
    columns of its first row."""
    if compiled.MODULE is None:
        return parse_rows_numpy(blocks)
    spans, shifts = compiled.MODULE.parse_rows(blocks)
    return spans, np.frombuffer(shifts, dtype=np.float64).reshape(-1, 2)


def parse_rows_numpy(blocks: list[bytes]) -> tuple[list[tuple[int, int] | None], np.ndarray]:
    """`parse_rows` in numpy: the rows of all the blocks in one layout at once, a few passes
    over their bytes."""
    groups: dict[Layout, list[int]] = {}
    for index, block in enumerate(blocks):
        layout = _layout(block)
        if layout is not None:
            groups.setdefault(layout, []).append(index)
    spans: list[tuple[int, int] | None] = [None] * len(blocks)
    parts: list[np.ndarray] = []
    position = 0
    for layout, members in groups.items():
        for piece in _pieces(members, blocks):
            ok, shifts, counts = _parse_group([blocks[i] for i in piece], layout)
            if not ok.all():
                shifts = shifts[np.repeat(ok, counts)]
            parts.append(shifts)
            for index, good, count in zip(piece, ok.tolist(), counts.tolist(), strict=True):
                if good:
                    spans[index] = (position, position + count)
                    position += count
    return spans, np.concatenate(parts) if parts else np.zeros((0, 2))


def _pieces(members: list[int], blocks: list[bytes]) -> list[list[int]]:
    """`members` in runs of about `PIECE_BYTES` of rows."""
    pieces: list[list[int]] = [[]]
    size = 0
    for index in members:
        if size >= PIECE_BYTES:
            pieces.append([])
            size = 0
        pieces[-1].append(index)
        size += len(blocks[index])
    return pieces


def _layout(block: bytes) -> Layout | None:
    """The layout of the block's first row, if every row can have it."""
    layout = _row_layout(block[: block.find(b"\n") + 1])
    return None if layout is None or len(block) % layout[-1] else layout


@functools.lru_cache(maxsize=4096)  # a job's first rows repeat: most are frame 1 at 0, 0
def _row_layout(row: bytes) -> Layout | None:
    first = _FIRST_ROW.fullmatch(row)
    if first is None:
        return None
    frame, x_end, y_end = first.end(1), first.end(2), first.end(3)
    if max(x_end - frame, y_end - x_end) - 2 > MAX_DIGITS:  # a space and a dot at least
        return None
    return frame, x_end, y_end, len(row)


def _parse_group(blocks: list[bytes], layout: Layout
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whether each block is in `layout` with frames 1..n, the (rows, 2) shifts of every row,
    and each block's row count."""
    frame, x_end, y_end, width = layout
    counts = np.fromiter((len(block) // width for block in blocks), dtype=np.int64,
                         count=len(blocks))
    text = np.frombuffer(b"".join(blocks), dtype=np.uint8).reshape(-1, width).T.copy()
    digits = text - np.uint8(48)  # wraps below "0": digits only are below 10
    is_digit = digits < 10
    space, dot, minus = text == 32, text == 46, text == 45
    ok = (text[width - 1] == 10) & space[y_end: width - 1].all(axis=0)
    ok &= _right_aligned(text, space, is_digit, 0, frame)
    number_start = max(frame - FRAME_DIGITS, 0)  # a longer frame number is no frame number
    ok &= space[:number_start].all(axis=0)
    for start, end in ((frame, x_end), (x_end, y_end)):
        ok &= space[start] & _right_aligned(text, space, is_digit, start, end, (dot, minus))
    digits[~is_digit] = 0
    starts = np.cumsum(counts) - counts
    numbered = np.arange(len(ok)) - np.repeat(starts, counts) + 1
    ok &= _integer(digits, range(number_start, frame)) == numbered
    shifts = np.empty((len(ok), 2))
    for axis, (start, end) in enumerate(((frame, x_end), (x_end, y_end))):
        after = np.arange(end - start - 1, -1, -1, dtype=np.uint8)  # columns after each
        decimals = np.minimum(  # no more than MAX_DIGITS in a row that has one dot
            np.einsum("c,cr->r", after, dot[start:end].view(np.uint8)), MAX_DIGITS)
        # The digits read with the dot as one more digit, 0: the integer part has one zero
        # too many, which the decimals are put back below.
        spread = _integer(digits, range(start, end))
        fraction = spread % _INTEGER_POWERS[decimals]
        value = ((spread - fraction) // 10 + fraction) / _POWERS[decimals]
        negative = minus[start:end].any(axis=0)
        value[negative] = -value[negative]  # "-0.000000" is -0.0, as float() reads it
        shifts[:, axis] = value
    return np.logical_and.reduceat(ok, starts), shifts, counts


def _right_aligned(text: np.ndarray, space: np.ndarray, is_digit: np.ndarray, start: int,
                   end: int, number: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Rows whose columns start:end are spaces, then digits up to the last column: with the
    masks of the dots and minus signs (`number`), an optional minus sign, digits, one dot,
    digits; without, an integer with no leading zero."""
    spaces, numeric = space[start:end], is_digit[start:end]
    first = ~spaces  # the first character after the spaces
    first[1:] &= spaces[:-1]
    allowed = numeric
    if number is not None:
        dots, minus = number[0][start:end], number[1][start:end]
        allowed = allowed | dots | (first & minus)
    ok = (spaces | allowed).all(axis=0) & ~(spaces[1:] & ~spaces[:-1]).any(axis=0)
    ok &= numeric[-1]
    if number is not None:
        ok &= (dots.sum(axis=0) == 1) & ~(dots[1:] & ~numeric[:-1]).any(axis=0)
    else:
        ok &= ~(first & (text[start:end] == 48)).any(axis=0)
    return ok


def _integer(digits: np.ndarray, columns) -> np.ndarray:
    value = np.zeros(digits.shape[1], dtype=np.int64)
    for column in columns:
        value *= 10
        value += digits[column]
    return value

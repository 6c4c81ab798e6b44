"""Drawing a figure on an indexed canvas: stamps (texts, markers) pasted, lines drawn, in a
few calls per figure.

A canvas is a uint8 array of shape (height, 1 + width): each row starts with its PNG filter
byte (0), then its pixels' palette indices, so that it is the PNG's image data as it is
(`png.indexed_png_rows`). `pixels(canvas)` is the view of its pixels.

The steps are compiled (``_canvas.c``, optional: `motioncons.compiled`); without it they are
done here with numpy, to the same pixels: every coordinate is computed with the same
floating-point operations in the same order.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np

from ..compiled import optional_module

COMPILED = optional_module("motioncons.figures._canvas")
"""The compiled steps (`paste`, `paste_at`, `polyline`, `segments`, `glyph_run`, `axis`,
`overlay_panels`), or None."""

_HEADER = struct.Struct("<HHhhBx")
FAR = 10000.0
"""Coordinates (pixels) beyond this are not drawn."""


def new_canvas(width: int, height: int, fill: int) -> np.ndarray:
    canvas = np.full((height, width + 1), fill, dtype=np.uint8)
    canvas[:, 0] = 0
    return canvas


def pixels(canvas: np.ndarray) -> np.ndarray:
    """The (height, width) view of a canvas' pixels."""
    return canvas[:, 1:]


def stamp_bytes(indices: np.ndarray, dx: int, dy: int, clear: int) -> bytes:
    """A stamp: the palette indices of a small picture (uint8, (height, width)), placed with
    its corner at (dx, dy) from the point it is pasted at; its pixels of index `clear` are not
    drawn."""
    height, width = indices.shape
    return _HEADER.pack(width, height, dx, dy, clear) + np.ascontiguousarray(
        indices, dtype=np.uint8).tobytes()


def turned_left(stamp: bytes) -> bytes:
    """`stamp` turned a quarter turn anticlockwise about the point it is pasted at (a text
    read from bottom to top: a vertical axis's label)."""
    width, height, dx, dy, clear = _HEADER.unpack_from(stamp)
    indices = np.frombuffer(stamp, dtype=np.uint8, offset=_HEADER.size).reshape(height, width)
    # The pixel from (dx + column, dy + row) goes to the one from (dy + row, -(dx + column + 1)).
    return stamp_bytes(np.rot90(indices), dy, -(dx + width), clear)


def paste(canvas: np.ndarray, stamp: bytes, x: float, y: float) -> None:
    """`stamp` placed at (x, y), each rounded half to even (Python's `round`)."""
    if COMPILED is not None:
        COMPILED.paste(canvas, stamp, x, y)
    else:
        _place(canvas, stamp, x, y)


def paste_at(canvas: np.ndarray, stamp: bytes, points: np.ndarray) -> None:
    """`stamp` placed at each of `points` (float64, shape (n, 2)), in order."""
    points = np.ascontiguousarray(points, dtype=np.float64)
    if COMPILED is not None:
        COMPILED.paste_at(canvas, stamp, points)
    else:
        for x, y in points.tolist():
            _place(canvas, stamp, x, y)


def polyline(canvas: np.ndarray, points: np.ndarray, ink: int, thickness: int) -> None:
    """Segments joining `points` (float64, shape (n, 2)) in order, 1 or 2 pixels thick."""
    points = np.ascontiguousarray(points, dtype=np.float64)
    if COMPILED is not None:
        COMPILED.polyline(canvas, points, ink, thickness)
    elif len(points) == 1:
        _segments(canvas, points, points, ink, thickness)
    else:
        _segments(canvas, points[:-1], points[1:], ink, thickness)


def segments(canvas: np.ndarray, ends: object, ink: int, thickness: int = 1) -> None:
    """Each segment from (x0, y0) to (x1, y1), the rows of `ends` (shape (k, 4))."""
    ends = np.ascontiguousarray(ends, dtype=np.float64).reshape(-1, 4)
    if COMPILED is not None:
        COMPILED.segments(canvas, ends, ink, thickness)
    else:
        _segments(canvas, ends[:, :2], ends[:, 2:], ink, thickness)


def glyph_run(canvas: np.ndarray | None, text: str, count: int, x: float, y: float,
              glyphs: dict[str, bytes], advances: dict[str, float]) -> float | None:
    """The first `count` characters of `text` glyph by glyph from (x, y), compiled: see
    `text_stamps.TextStamps.run`, which does the same in Python, filling its tables, where
    this returns None (not compiled, or a glyph or an advance not yet in its table)."""
    if COMPILED is None:
        return None
    return COMPILED.glyph_run(canvas, text, count, x, y, glyphs, advances)


def axis(canvas: np.ndarray, low: float, high: float, count: int,
         position: tuple[float, float, float, float, float, float], vertical: bool,
         grid_span: tuple[float, float], tick_span: tuple[float, float], label_at: float,
         stamps: dict[str, bytes], render: Callable[[str], bytes], grid: list | None,
         ticks: list | None) -> bool:
    """An axis's ticks, labels and lines in one compiled call (`overlay.OverlayPlotter`'s
    `_axis` says what each argument is, and does the same in Python); False, with nothing
    done, where not compiled or where the compiled code leaves the ticks to Python."""
    if COMPILED is None:
        return False
    return COMPILED.axis(canvas, low, high, count, position, vertical, grid_span, tick_span,
                         label_at, stamps, render, grid, ticks)


def overlay_panels(canvas: np.ndarray, ref: np.ndarray, sec: np.ndarray, frames: np.ndarray,
                   error: np.ndarray, pixel_size: float, main: tuple[int, int, int, int],
                   lower: tuple[int, int, int, int], labels: tuple, inks: tuple[int, ...],
                   marks: tuple) -> bool:
    """An overlay's two panels in one compiled call (`overlay.OverlayPlotter._compiled_panels`
    says what each argument is; ``_canvas.overlay_panels`` documents them); False, with
    nothing drawn, where not compiled or where the compiled code leaves them to Python."""
    if COMPILED is None:
        return False
    return COMPILED.overlay_panels(
        canvas, np.ascontiguousarray(ref, dtype=np.float64),
        np.ascontiguousarray(sec, dtype=np.float64),
        np.ascontiguousarray(frames, dtype=np.float64),
        np.ascontiguousarray(error, dtype=np.float64), pixel_size, main, lower, labels, inks,
        marks)


def fill(canvas: np.ndarray, left: int, top: int, right: int, bottom: int, ink: int) -> None:
    """The rectangle from (left, top) to (right, bottom), both included."""
    if right < 0 or bottom < 0:
        return
    pixels(canvas)[max(top, 0): bottom + 1, max(left, 0): right + 1] = ink


def outline(canvas: np.ndarray, left: int, top: int, right: int, bottom: int,
            ink: int) -> None:
    """The rectangle's border, a pixel wide, on the pixels (left, top) to (right, bottom)."""
    segments(canvas, [(left, top, right, top), (left, bottom, right, bottom),
                      (left, top, left, bottom), (right, top, right, bottom)], ink)


def _segments(canvas: np.ndarray, starts: np.ndarray, ends: np.ndarray, ink: int,
              thickness: int) -> None:
    """``segment`` of ``_canvas.c`` for every segment from `starts` to `ends` ((k, 2) each):
    n + 1 evenly spaced points, n the longer side rounded up; each point's nearest pixel, and
    for a thickness of 2 the next one across. Segments with a far end are not drawn."""
    near = (np.abs(starts) < FAR).all(axis=1) & (np.abs(ends) < FAR).all(axis=1)
    (x0, y0), (x1, y1) = starts[near].T, ends[near].T
    dx, dy = x1 - x0, y1 - y0
    n = np.maximum(np.ceil(np.maximum(np.abs(dx), np.abs(dy))), 1.0)
    counts = n.astype(np.intp) + 1
    of = np.repeat(np.arange(len(n)), counts)
    steps = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    x = x0[of] + dx[of] * steps / n[of]
    y = y0[of] + dy[of] * steps / n[of]
    if thickness < 2:
        xs, ys = np.floor(x + 0.5), np.floor(y + 0.5)
    else:
        across_y = (np.abs(dx) >= np.abs(dy))[of]
        column = np.where(across_y, np.floor(x + 0.5), np.floor(x))
        row = np.where(across_y, np.floor(y), np.floor(y + 0.5))
        xs = np.concatenate([column, column + ~across_y])
        ys = np.concatenate([row, row + across_y])
    height, width = canvas.shape[0], canvas.shape[1] - 1
    inside = (xs >= 0) & (ys >= 0) & (xs < width) & (ys < height)
    canvas[ys[inside].astype(np.intp), 1 + xs[inside].astype(np.intp)] = ink


_DECODED: dict[bytes, tuple[np.ndarray, np.ndarray, int, int]] = {}


def _decoded(stamp: bytes) -> tuple[np.ndarray, np.ndarray, int, int]:
    """A stamp's pixels, which of them are drawn, and its offset (kept for the next time)."""
    found = _DECODED.get(stamp)
    if found is None:
        width, height, dx, dy, clear = _HEADER.unpack_from(stamp)
        indices = np.frombuffer(stamp, dtype=np.uint8, offset=_HEADER.size).reshape(
            height, width)
        found = (indices, indices != clear, dx, dy)
        if len(_DECODED) < 50_000:
            _DECODED[stamp] = found
    return found


def _place(canvas: np.ndarray, stamp: bytes, x: float, y: float) -> None:
    """``place`` of ``_canvas.c``."""
    if not (-FAR < x < FAR and -FAR < y < FAR):
        return
    indices, drawn, dx, dy = _decoded(stamp)
    height, width = indices.shape
    left, top = round(x) + dx, round(y) + dy
    image = pixels(canvas)
    rows = slice(max(-top, 0), max(min(height, image.shape[0] - top), 0))
    columns = slice(max(-left, 0), max(min(width, image.shape[1] - left), 0))
    source = indices[rows, columns]
    if source.size:
        target = image[top + rows.start: top + rows.stop, left + columns.start:
                       left + columns.stop]
        np.copyto(target, source, where=drawn[rows, columns])

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

import math
import struct

import numpy as np

from ..compiled import optional_module

COMPILED = optional_module("motioncons.figures._canvas")
"""The compiled steps (`paste`, `paste_at`, `polyline`, `line`), or None."""

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
        return
    if len(points) == 1:
        x, y = points[0].tolist()
        _segment(canvas, x, y, x, y, ink, thickness)
    for (x0, y0), (x1, y1) in zip(points[:-1].tolist(), points[1:].tolist(), strict=True):
        _segment(canvas, x0, y0, x1, y1, ink, thickness)


def line(canvas: np.ndarray, x0: float, y0: float, x1: float, y1: float, ink: int) -> None:
    """One segment, a pixel thick."""
    if COMPILED is not None:
        COMPILED.line(canvas, x0, y0, x1, y1, ink)
    else:
        _segment(canvas, x0, y0, x1, y1, ink, 1)


def fill(canvas: np.ndarray, left: int, top: int, right: int, bottom: int, ink: int) -> None:
    """The rectangle from (left, top) to (right, bottom), both included."""
    if right < 0 or bottom < 0:
        return
    pixels(canvas)[max(top, 0): bottom + 1, max(left, 0): right + 1] = ink


def outline(canvas: np.ndarray, left: int, top: int, right: int, bottom: int,
            ink: int) -> None:
    """The rectangle's border, a pixel wide, on the pixels (left, top) to (right, bottom)."""
    fill(canvas, left, top, right, top, ink)
    fill(canvas, left, bottom, right, bottom, ink)
    fill(canvas, left, top, left, bottom, ink)
    fill(canvas, right, top, right, bottom, ink)


def _near(*values: float) -> bool:
    return all(-FAR < value < FAR for value in values)


def _segment(canvas: np.ndarray, x0: float, y0: float, x1: float, y1: float, ink: int,
             thickness: int) -> None:
    """``segment`` of ``_canvas.c``: n + 1 evenly spaced points, n the longer side rounded up;
    each point's nearest pixel, and for a thickness of 2 the next one across."""
    if not _near(x0, y0, x1, y1):
        return
    dx, dy = x1 - x0, y1 - y0
    n = max(math.ceil(max(abs(dx), abs(dy))), 1)
    steps = np.arange(n + 1, dtype=np.float64)
    x = x0 + dx * steps / n
    y = y0 + dy * steps / n
    if thickness < 2:
        xs, ys = np.floor(x + 0.5), np.floor(y + 0.5)
    elif abs(dx) >= abs(dy):
        column, row = np.floor(x + 0.5), np.floor(y)
        xs, ys = np.concatenate([column, column]), np.concatenate([row, row + 1])
    else:
        column, row = np.floor(x), np.floor(y + 0.5)
        xs, ys = np.concatenate([column, column + 1]), np.concatenate([row, row])
    height, width = canvas.shape[0], canvas.shape[1] - 1
    inside = (xs >= 0) & (ys >= 0) & (xs < width) & (ys < height)
    canvas[ys[inside].astype(np.intp), 1 + xs[inside].astype(np.intp)] = ink


def _place(canvas: np.ndarray, stamp: bytes, x: float, y: float) -> None:
    """``place`` of ``_canvas.c``."""
    if not _near(x, y):
        return
    width, height, dx, dy, clear = _HEADER.unpack_from(stamp)
    indices = np.frombuffer(stamp, dtype=np.uint8, offset=_HEADER.size).reshape(height, width)
    left, top = round(x) + dx, round(y) + dy
    image = pixels(canvas)
    rows = slice(max(-top, 0), max(min(height, image.shape[0] - top), 0))
    columns = slice(max(-left, 0), max(min(width, image.shape[1] - left), 0))
    source = indices[rows, columns]
    if source.size:
        target = image[top + rows.start: top + rows.stop, left + columns.start:
                       left + columns.stop]
        np.copyto(target, source, where=source != clear)

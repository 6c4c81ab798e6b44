from __future__ import annotations

import numpy as np
import pytest

from motioncons.figures import canvas
from motioncons.figures.canvas import (
    fill,
    new_canvas,
    outline,
    paste,
    paste_at,
    pixels,
    polyline,
    segments,
    stamp_bytes,
)


def line(image: np.ndarray, x0: float, y0: float, x1: float, y1: float, ink: int) -> None:
    segments(image, [(x0, y0, x1, y1)], ink)

WHITE = 7


def _blank(width: int = 40, height: int = 30) -> np.ndarray:
    return new_canvas(width, height, WHITE)


def _inked(image: np.ndarray, ink: int) -> set[tuple[int, int]]:
    rows, columns = np.nonzero(pixels(image) == ink)
    return set(zip(columns.tolist(), rows.tolist(), strict=True))


def test_a_canvas_is_png_rows_with_their_filter_byte(canvas_steps):
    image = _blank(5, 3)
    assert image.shape == (3, 6) and (image[:, 0] == 0).all() and (pixels(image) == WHITE).all()
    line(image, -10, 1, 100, 1, 3)  # clipped at both ends: the filter bytes stay 0
    assert (image[:, 0] == 0).all() and (pixels(image)[1] == 3).all()


def test_a_line_covers_the_pixels_nearest_its_points(canvas_steps):
    image = _blank()
    line(image, 2, 5, 12, 5, 1)
    assert _inked(image, 1) == {(x, 5) for x in range(2, 13)}
    image = _blank()
    line(image, 3, 2, 3, 9.4, 1)
    assert _inked(image, 1) == {(3, y) for y in range(2, 10)}
    image = _blank()
    line(image, 0, 0, 4, 2, 1)  # 5 points a pixel apart along x; y = 0.5 is rounded up
    assert _inked(image, 1) == {(0, 0), (1, 1), (2, 1), (3, 2), (4, 2)}


def test_a_thick_polyline_is_two_pixels_across(canvas_steps):
    image = _blank()
    polyline(image, np.array([[2.0, 5.2], [10.0, 5.2], [10.0, 15.0]]), 2, 2)
    inked = _inked(image, 2)
    assert {(x, 5) for x in range(2, 11)} | {(x, 6) for x in range(2, 11)} <= inked
    assert {(10, y) for y in range(6, 16)} | {(11, y) for y in range(6, 16)} <= inked
    assert not any(y in (4, 7) for x, y in inked if x < 9)
    image = _blank()
    polyline(image, np.array([[3.0, 4.0]]), 2, 1)  # one point: a dot
    assert _inked(image, 2) == {(3, 4)}


def test_a_stamp_keeps_the_canvas_under_its_clear_pixels_and_is_clipped(canvas_steps):
    cross = np.full((3, 3), WHITE, dtype=np.uint8)
    cross[1, :] = cross[:, 1] = 4
    stamp = stamp_bytes(cross, -1, -1, WHITE)
    image = _blank()
    fill(image, 0, 0, 39, 29, 9)
    paste(image, stamp, 10, 10)
    assert _inked(image, 4) == {(9, 10), (10, 10), (11, 10), (10, 9), (10, 11)}
    assert pixels(image)[9, 9] == 9  # a clear pixel of the stamp
    paste(image, stamp, 2.5, 0.5)  # rounded half to even, as Python's round: (2, 0)
    assert {(1, 0), (2, 0), (3, 0), (2, 1)} <= _inked(image, 4)
    paste(image, stamp, 39.4, 29.6)  # at (39, 30): only its top arm is on the canvas
    assert (39, 29) in _inked(image, 4) and (38, 29) not in _inked(image, 4)
    paste_at(image, stamp, np.array([[20.0, 20.0], [30.0, 5.0]]))
    assert {(20, 20), (30, 5)} <= _inked(image, 4)


@pytest.mark.parametrize("far", [1e9, -1e9, float("nan"), float("inf")])
def test_far_or_undefined_coordinates_draw_nothing(canvas_steps, far):
    image = _blank()
    before = image.copy()
    line(image, far, 3, 5, 3, 1)
    polyline(image, np.array([[1.0, 1.0], [far, far]]), 1, 2)
    paste(image, stamp_bytes(np.zeros((2, 2), dtype=np.uint8), 0, 0, WHITE), far, 4)
    assert (image == before).all()


def test_rectangles(canvas_steps):
    image = _blank()
    fill(image, 2, 3, 4, 5, 1)
    assert _inked(image, 1) == {(x, y) for x in range(2, 5) for y in range(3, 6)}
    outline(image, 10, 10, 13, 12, 2)
    assert _inked(image, 2) == {(x, y) for x in range(10, 14) for y in range(10, 13)} - {
        (11, 11), (12, 11)}


def test_bad_canvases_and_stamps_are_refused():
    if canvas.COMPILED is None:
        pytest.skip("the compiled steps were not built")
    steps = canvas.COMPILED
    stamp = stamp_bytes(np.zeros((2, 2), dtype=np.uint8), 0, 0, WHITE)
    with pytest.raises(ValueError, match="2-D uint8"):
        steps.paste(np.zeros(10, dtype=np.uint8), stamp, 0, 0)
    with pytest.raises(ValueError, match="size does not match"):
        steps.paste(_blank(), stamp[:-1], 0, 0)
    with pytest.raises(ValueError, match="shorter than its header"):
        steps.paste(_blank(), b"\x01", 0, 0)
    with pytest.raises(TypeError):
        steps.paste(_blank(), bytearray(stamp), 0, 0)
    with pytest.raises(ValueError, match="float64 array of shape"):
        steps.polyline(_blank(), np.zeros((3, 3)), 1, 1)
    with pytest.raises(ValueError, match="palette index"):
        steps.segments(_blank(), np.zeros((1, 4)), 256, 1)
    with pytest.raises(ValueError, match="shape \\(n, 4\\)"):
        steps.segments(_blank(), np.zeros((1, 3)), 1, 1)
    with pytest.raises(ValueError, match="read-only"):
        read_only = _blank()
        read_only.flags.writeable = False
        steps.segments(read_only, np.zeros((1, 4)), 1, 1)


def test_the_compiled_steps_draw_the_same_pixels_as_the_fallback(monkeypatch):
    """Random lines, polylines and stamps, at fractional and half-pixel positions, partly
    off the canvas: byte for byte the same canvas both ways."""
    if canvas.COMPILED is None:
        pytest.skip("the compiled steps were not built")
    rng = np.random.default_rng(11)
    stamps = [stamp_bytes(rng.integers(0, 9, (h, w), dtype=np.uint8), int(dx), int(dy), WHITE)
              for h, w, dx, dy in rng.integers(-4, 9, (30, 4)) if h > 0 and w > 0]
    drawings = []
    for _ in range(2):
        image = _blank(97, 61)
        draw = np.random.default_rng(12)
        for _ in range(400):
            kind = draw.integers(5)
            points = draw.uniform(-20, 120, (int(draw.integers(1, 9)), 2))
            points = np.where(draw.random(points.shape) < 0.15, np.floor(points) + 0.5, points)
            ink = int(draw.integers(0, 256))
            if kind == 0:
                line(image, *points[0].tolist(), *points[-1].tolist(), ink)
            elif kind == 1:
                polyline(image, points, ink, int(draw.integers(1, 3)))
            elif kind == 2:
                segments(image, points.reshape(-1)[: len(points) // 2 * 4], ink,
                         int(draw.integers(1, 3)))
            elif kind == 3:
                paste(image, stamps[int(draw.integers(len(stamps)))], *points[0].tolist())
            else:
                paste_at(image, stamps[int(draw.integers(len(stamps)))], points)
        drawings.append(image)
        monkeypatch.setattr(canvas, "COMPILED", None)
    assert drawings[0].tobytes() == drawings[1].tobytes()

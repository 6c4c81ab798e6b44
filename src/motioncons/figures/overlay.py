"""The per-movie trajectory overlay: a PNG drawn one movie after another on a background
rendered once by Pillow, with its fonts.

Layout: title and metrics on top; the trajectory panel (px, equal aspect, Å on the top and right
axes, start marker, sparse frame labels, legend); below it the per-frame error panel. Metrics
are never recomputed here: the rows carry them, and the reference and fitted secondary
trajectories the decision was made on.

The figure is drawn straight in its fixed palette (`palette.Palette`) on a `canvas`, which is
the PNG's image data as it is: lines in palette indices, markers and texts as stamps (texts
from `text_stamps.TextStamps`), in a few calls to compiled code per figure, and it is encoded
by `png.indexed_png_rows`. Nothing is mapped to colours per figure. The file ends
with the figure's `overlay_key`, so that a figure already drawn is not drawn again.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..outputs.atomic import write_bytes
from ..records import Row
from .canvas import (
    axis,
    fill,
    new_canvas,
    outline,
    overlay_panels,
    paste,
    paste_at,
    pixels,
    polyline,
    segments,
    stamp_bytes,
)
from .palette import WHITE, Palette
from .png import indexed_png_rows
from .text_stamps import TextStamps

COLOURS = {"reference": "#1f77b4", "secondary": "#d62728", "accepted": "#2ca02c",
            "discarded": "#d62728"}
_RGB = {name: (int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)) for name, h in COLOURS.items()}
_BLACK, _GRID, _LABEL, _FRAME, _ERROR_LINE = (
    (0, 0, 0), (230, 230, 230), (68, 68, 68), (187, 187, 187), (85, 85, 85))
_WHITE = WHITE

KEY_WORD = "motioncons overlay"
"""The PNG text keyword under which an overlay stores its `overlay_key`."""
DRAWING_VERSION = 4
"""Part of every `overlay_key`: raise it when the figure's drawing changes, so that overlays
drawn before are drawn again."""


def overlay_key(row: Row, frames: np.ndarray | None = None) -> str:
    """A digest of all an overlay shows (the drawing's version, the row's texts, metrics and
    trajectories): a figure on disk that stores this key is this figure, and needs no drawing
    again (a run of the same inputs into its folder again, ``decide``, ``watch`` deciding
    everything again at the end). `frames`: the row's `frame_numbers`, where already made."""
    import hashlib  # here: it maps OpenSSL's library, 4 MB, into every process

    digest = hashlib.blake2b(digest_size=16)
    shown = (DRAWING_VERSION, row.movie, row.decision, row.reason, row.corr_x, row.corr_y,
             row.corr, row.rmse_px, row.rmse_A, row.max_error_px, row.pixel_size_A)
    digest.update(repr(shown).encode("utf-8", "surrogatepass"))
    if frames is None:
        frames = row.frame_numbers()
    for values in (row.reference_shifts, row.secondary_fitted, frames):
        array = np.ascontiguousarray(values, dtype=np.float64)
        digest.update(repr(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def font_paths() -> tuple[str, str]:
    """DejaVu Sans, regular and bold, as matplotlib ships them: found without importing
    matplotlib's font manager (0.3 s), which a run without the report would import for them
    alone (its font manager finds them, if a build does not ship them)."""
    import importlib.util

    spec = importlib.util.find_spec("matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        fonts = os.path.join(folder, "mpl-data", "fonts", "ttf")
        paths = (os.path.join(fonts, "DejaVuSans.ttf"), os.path.join(fonts, "DejaVuSans-Bold.ttf"))
        if all(os.path.isfile(path) for path in paths):
            return paths
    from matplotlib import font_manager

    return (font_manager.findfont("DejaVu Sans"), font_manager.findfont(
        font_manager.FontProperties(family="DejaVu Sans", weight="bold")))


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 x 10^n steps) covering [low, high]."""
    span = high - low
    if not math.isfinite(span) or span <= 0:
        return [low]
    raw = span / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step, miss = magnitude, math.inf
    for multiple in (1, 2, 2.5, 5, 10):  # the step that gives closest to `count` ticks
        candidate = multiple * magnitude
        distance = abs(span / candidate - (count - 1))
        if distance < miss:
            step, miss = candidate, distance
    first = math.ceil(low / step) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step + 1e-9) + 1)]


def _tick_text(value: float) -> str:
    return f"{value:.4g}"


class OverlayPlotter:
    """Draws one movie's overlay after another (one plotter per process: its fonts, palette,
    background, markers and text stamps are made once)."""

    WIDTH, HEIGHT = 560, 500
    MAIN = (70, 92, 480, 370)  # left, top, right, bottom
    ERROR = (70, 408, 480, 470)

    def __init__(self) -> None:
        from PIL import Image, ImageDraw, ImageFont

        self.Image, self.ImageDraw = Image, ImageDraw
        regular, bold_path = font_paths()
        self.font = ImageFont.truetype(regular, 11)
        small = ImageFont.truetype(regular, 9)
        bold = ImageFont.truetype(bold_path, 13)
        self.palette = Palette(_palette_colours())
        self._ink = self.palette.index
        self.texts = TextStamps(self.palette, small, bold)
        self._dots = {colour: self._marker(colour, 5, "disc") for colour in _RGB.values()}
        self._start = self._marker(_BLACK, 15, "pentagon")
        self._legend = self._legend_stamp()
        self.background = self._background(small)
        """The canvas (`canvas.new_canvas`) every figure starts from."""
        self._canvas = self.background.copy()
        """The canvas each figure is drawn on, the background copied into it first (no new
        memory a figure)."""
        self._panel_labels: tuple | None = None
        ink = self._ink
        self._panel_inks = (ink[_GRID], ink[_BLACK], ink[_RGB["reference"]],
                            ink[_RGB["secondary"]], ink[_ERROR_LINE])
        self._panel_marks = (self._dots[_RGB["reference"]], self._dots[_RGB["secondary"]],
                             self._start, self._legend)

    def draw(self, row: Row, path: str | Path) -> None:
        ref = np.asarray(row.reference_shifts, dtype=float)
        sec = np.asarray(row.secondary_fitted, dtype=float)
        frames = row.frame_numbers()
        canvas = self._canvas
        np.copyto(canvas, self.background)
        self.texts.title(canvas, (self.WIDTH / 2, 14), row.movie,
                         _RGB["accepted" if row.accepted else "discarded"],
                         f": {row.decision} ({row.reason})")
        self.texts.words(canvas, (self.WIDTH / 2, 34),
                         f"corr_x {_fmt(row.corr_x)}   corr_y {_fmt(row.corr_y)}   score "
                         f"{_fmt(row.corr)}   RMSE {_fmt(row.rmse_px)} px / "
                         f"{_fmt(row.rmse_A)} Å   max {_fmt(row.max_error_px)} px", _BLACK)
        difference = ref - sec
        error = np.hypot(difference[:, 0], difference[:, 1])
        if not self._compiled_panels(canvas, ref, sec, frames, error, row.pixel_size_A):
            self._trajectories(canvas, ref, sec, frames, row.pixel_size_A)
            self._errors(canvas, frames, error)
        write_bytes(path, indexed_png_rows(canvas, self.palette.data,
                                           (KEY_WORD, overlay_key(row, frames))), durable=False)

    def _compiled_panels(self, canvas: np.ndarray, ref: np.ndarray, sec: np.ndarray,
                         frames: np.ndarray, error: np.ndarray, pixel_size: float) -> bool:
        """Both panels (`_trajectories`, `_errors`) in one compiled call, to the same pixels;
        False, with nothing drawn, where they are left to Python (`canvas.overlay_panels`)."""
        if self._panel_labels is None:
            texts = self.texts
            self._panel_labels = tuple(
                (texts.stamps(anchor, colour), functools.partial(texts.stamp, anchor=anchor,
                                                                 fill=colour))
                for anchor, colour in (("mm", _BLACK), ("rm", _BLACK), ("lm", _BLACK),
                                       ("lb", _LABEL)))
        return overlay_panels(canvas, ref, sec, frames, error, pixel_size, self.MAIN,
                              self.ERROR, self._panel_labels, self._panel_inks,
                              self._panel_marks)

    def _small(self, canvas: np.ndarray, xy: tuple[float, float], text: str, anchor: str,
               fill: tuple[int, int, int] = _BLACK) -> None:
        self.texts.paste(canvas, xy, text, anchor, fill)

    def _marker(self, colour: tuple[int, int, int], size: int, shape: str) -> bytes:
        """A marker centred on the point it is pasted at (a stamp): a disc, or the regular
        pentagon of the first frame."""
        white = self.palette.white
        image = self.Image.new("P", (size, size), white)
        image.putpalette(self.palette.data)
        centre = (size - 1) / 2
        if shape == "disc":
            self.ImageDraw.Draw(image).ellipse([0, 0, size - 1, size - 1],
                                                fill=self._ink[colour])
        else:
            self.ImageDraw.Draw(image).regular_polygon((centre, centre, centre), 5,
                                                        fill=self._ink[colour])
        return stamp_bytes(np.asarray(image), -(size // 2), -(size // 2), white)

    def _rotated(self, text: str, font: Any) -> Any:
        box = font.getbbox(text)
        image = self.Image.new("RGBA", (box[2] + 4, box[3] + 4), (255, 255, 255, 0))
        self.ImageDraw.Draw(image).text((2, 2), text, font=font, fill=_BLACK)
        return image.rotate(90, expand=True)

    def _background(self, small: Any) -> np.ndarray:
        """The axis labels, drawn once, in the palette."""
        image = self.Image.new("RGB", (self.WIDTH, self.HEIGHT), "white")
        draw = self.ImageDraw.Draw(image)
        left, top, right, bottom = self.MAIN
        draw.text(((left + right) / 2, bottom + 28), "x shift (px)", font=self.font,
                  fill=_BLACK, anchor="mm")
        draw.text(((left + right) / 2, top - 30), "x (Å)", font=small, fill=_BLACK,
                  anchor="mm")
        image.paste(ylabel := self._rotated("y shift (px)", self.font),
                    (8, (top + bottom) // 2 - ylabel.size[1] // 2), ylabel)
        image.paste(angstrom := self._rotated("y (Å)", small),
                    (self.WIDTH - 24, (top + bottom) // 2 - angstrom.size[1] // 2), angstrom)
        left, top, right, bottom = self.ERROR
        draw.text(((left + right) / 2, bottom + 22), "frame", font=self.font, fill=_BLACK,
                  anchor="mm")
        image.paste(err := self._rotated("error (px)", small),
                    (14, (top + bottom) // 2 - err.size[1] // 2), err)
        background = new_canvas(self.WIDTH, self.HEIGHT, self.palette.white)
        pixels(background)[:] = np.asarray(self.palette.indexed(image))
        return background

    def _trajectories(self, canvas: np.ndarray, ref: np.ndarray, sec: np.ndarray,
                      frames: np.ndarray, pixel_size: float) -> None:
        ink = self._ink
        left, top, right, bottom = self.MAIN
        both = np.vstack([ref, sec])
        low, high = both.min(axis=0), both.max(axis=0)
        centre = (low + high) / 2
        span = max(float((high - low).max()) * 1.12, 0.5)
        scale = min((right - left) / span, (bottom - top) / span)  # equal aspect
        x0 = centre[0] - (right - left) / scale / 2
        y0 = centre[1] - (bottom - top) / scale / 2

        to_pixels = np.array([scale, -scale])  # y up, as in a plot
        origin = np.array([left - x0 * scale, bottom + y0 * scale])

        def to_canvas(points: np.ndarray) -> np.ndarray:
            return points * to_pixels + origin

        x_range = (x0, x0 + (right - left) / scale)
        y_range = (y0, y0 + (bottom - top) / scale)
        grid: list[tuple[float, float, float, float]] = []
        ticks: list[tuple[float, float, float, float]] = []
        self._axis(canvas, *x_range, 6, (left, 1.0, 1.0, x0, 1.0, scale), False, (top, bottom),
                   (bottom, bottom + 4), bottom + 12, "mm", grid, ticks)
        self._axis(canvas, *y_range, 6, (bottom, -1.0, 1.0, y0, 1.0, scale), True,
                   (left, right), (left - 4, left), left - 6, "rm", grid, ticks)
        if math.isfinite(pixel_size) and pixel_size > 0:
            self._axis(canvas, x_range[0] * pixel_size, x_range[1] * pixel_size, 6,
                       (left, 1.0, pixel_size, x0, 1.0, scale), False, (top, bottom),
                       (top - 4, top), top - 12, "mm", None, ticks)
            self._axis(canvas, y_range[0] * pixel_size, y_range[1] * pixel_size, 6,
                       (bottom, -1.0, pixel_size, y0, 1.0, scale), True, (left, right),
                       (right, right + 4), right + 6, "lm", None, ticks)
        black = ink[_BLACK]
        segments(canvas, grid, ink[_GRID])
        segments(canvas, ticks, black)
        outline(canvas, left, top, right, bottom, black)
        for samples, colour in ((ref, _RGB["reference"]), (sec, _RGB["secondary"])):
            points = to_canvas(samples)
            polyline(canvas, points, ink[colour], 2)
            paste_at(canvas, self._dots[colour], points)
        reference = to_canvas(ref)
        paste(canvas, self._start, *reference[0].tolist())
        step = max(1, math.ceil(len(frames) / 6))
        for (x, y), frame in zip(reference[::step].tolist(), frames[::step].tolist(),
                                 strict=True):
            self._small(canvas, (x + 5, y - 5), str(int(frame)), "lb", fill=_LABEL)
        if self._legend is not None:
            paste(canvas, self._legend, left + 6, top + 6)
        else:
            self._draw_legend(canvas, left + 6, top + 6)

    def _axis(self, canvas: np.ndarray, low: float, high: float, count: int,
              position: tuple[float, float, float, float, float, float], vertical: bool,
              grid_span: tuple[float, float], tick_span: tuple[float, float], label_at: float,
              anchor: str, grid: list | None, ticks: list | None) -> None:
        """The ticks `nice_ticks(low, high, count)` of one axis: each at p = base + sign *
        ((value / divisor - offset) / denominator * scale) (`position`, those six; how each
        axis computed its positions before, written so that the floats are the same), its
        label (`_tick_text`) pasted at (p, label_at), or (label_at, p) on a `vertical` axis,
        and its grid line across `grid_span` and tick across `tick_span` added to `grid` and
        `ticks` (None: none). In one compiled call where it can be (`canvas.axis`)."""
        texts = self.texts
        stamps = texts.stamps(anchor, _BLACK)
        if axis(canvas, low, high, count, position, vertical, grid_span, tick_span, label_at,
                stamps, lambda text: texts.stamp(text, anchor, _BLACK), grid, ticks):
            return
        base, sign, divisor, offset, denominator, scale = position
        for value in nice_ticks(low, high, count):
            p = base + sign * ((value / divisor - offset) / denominator * scale)
            if vertical:
                if grid is not None:
                    grid.append((grid_span[0], p, grid_span[1], p))
                if ticks is not None:
                    ticks.append((tick_span[0], p, tick_span[1], p))
                self._small(canvas, (label_at, p), _tick_text(value), anchor)
            else:
                if grid is not None:
                    grid.append((p, grid_span[0], p, grid_span[1]))
                if ticks is not None:
                    ticks.append((p, tick_span[0], p, tick_span[1]))
                self._small(canvas, (p, label_at), _tick_text(value), anchor)

    def _draw_legend(self, canvas: np.ndarray, left: int, top: int) -> None:
        ink = self._ink
        legend = ((_RGB["reference"], "reference"), (_RGB["secondary"], "secondary (fitted)"),
                  (_BLACK, "first frame"))
        fill(canvas, left, top, left + 134, top + 46, ink[_WHITE])
        outline(canvas, left, top, left + 134, top + 46, ink[_FRAME])
        for i, (colour, label) in enumerate(legend):
            y = top + 9 + 14 * i
            polyline(canvas, np.array([[left + 6, y], [left + 26, y]], dtype=float),
                     ink[colour], 2)
            self._small(canvas, (left + 32, y), label, "lm")

    def _legend_stamp(self) -> bytes | None:
        """The legend, the same in every figure, drawn once: a stamp whose white is drawn too
        (its clear index is one the palette does not use), or None with a full palette."""
        unused = len(self.palette.colours)
        if unused > 255:
            return None
        legend = new_canvas(135, 47, unused)
        self._draw_legend(legend, 0, 0)
        return stamp_bytes(pixels(legend), 0, 0, unused)

    def _errors(self, canvas: np.ndarray, frames: np.ndarray, error: np.ndarray) -> None:
        ink = self._ink
        left, top, right, bottom = self.ERROR
        f0 = float(frames[0])
        f1 = float(frames[-1]) if frames[-1] > frames[0] else f0 + 1
        ceiling = max(float(error.max()) * 1.15, 0.05)
        grid: list[tuple[float, float, float, float]] = []
        ticks: list[tuple[float, float, float, float]] = []
        self._axis(canvas, 0, ceiling, 3, (bottom, -1.0, ceiling, 0.0, 1.0, bottom - top), True,
                   (left, right), (left, left), left - 6, "rm", grid, None)
        self._axis(canvas, f0, f1, 8, (left, 1.0, 1.0, f0, f1 - f0, right - left), False,
                   (top, bottom), (bottom, bottom + 4), bottom + 11, "mm", None, ticks)
        segments(canvas, grid, ink[_GRID])
        segments(canvas, ticks, ink[_BLACK])
        xs = left + (frames - f0) / (f1 - f0) * (right - left)
        ys = bottom - error / ceiling * (bottom - top)
        polyline(canvas, np.column_stack([xs, ys]), ink[_ERROR_LINE], 1)
        outline(canvas, left, top, right, bottom, ink[_BLACK])


def _palette_colours() -> list[tuple[int, int, int]]:
    """Every colour the overlay draws, blended with white in 15 steps (anti-aliasing), and the
    two trajectory colours blended with each other (where the lines cross)."""
    bases = [*_RGB.values(), _BLACK, _GRID, _LABEL, _FRAME, _ERROR_LINE]
    colours = {_WHITE}
    for base in bases:
        colours.update(_blend(base, _WHITE, t) for t in np.linspace(0.0, 1.0, 15)[:-1])
    colours.update(_blend(_RGB["reference"], _RGB["secondary"], t)
                   for t in np.linspace(0.0, 1.0, 9)[1:-1])
    return sorted(colours)[:256]


def _blend(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return (round(a[0] * (1 - t) + b[0] * t), round(a[1] * (1 - t) + b[1] * t),
            round(a[2] * (1 - t) + b[2] * t))


def _fmt(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3g}"

"""The dataset summary figure: score, RMSE and largest-error histograms, score against motion,
acceptance along the session and the convention votes, drawn on a `canvas` in a fixed palette
with the overlays' fonts and text stamps.

Drawn here rather than by matplotlib: importing and drawing with matplotlib cost 1.4 s of CPU
at 50,000 movies (a process of its own in a run), this a few hundredths of a second.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..records import Parameters, Summary
from .canvas import (
    fill,
    new_canvas,
    outline,
    paste,
    paste_at,
    pixels,
    polyline,
    segments,
    stamp_bytes,
    turned_left,
)
from .overlay import COLOURS, font_paths, nice_ticks
from .palette import WHITE, Palette
from .text_stamps import TextStamps

WIDTH, HEIGHT = 1170, 675
DPI = 90
"""Pixels an inch, where a size in inches is asked for (a PDF page: 13 x 7.5 inches)."""

Colour = tuple[int, int, int]
_BLACK, _HISTOGRAM, _BAR, _GUIDE, _LABEL = (0, 0, 0), (119, 119, 119), (153, 153, 153), \
    (85, 85, 85), (68, 68, 68)


def _rgb(hex_colour: str) -> Colour:
    return (int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16))


_RED, _GREEN, _BLUE = (_rgb(COLOURS[name]) for name in ("discarded", "accepted", "reference"))
_COLUMNS = (70, 458, 846)
_ROWS = (80, 392)
_PANEL_WIDTH, _PANEL_HEIGHT = 308, 227


class _Drawing:
    """What every summary figure is drawn with, made once a process: palette, fonts, text
    stamps and the scatter's dots."""

    def __init__(self) -> None:
        from PIL import ImageFont

        regular, bold = font_paths()
        bases: list[Colour] = [_BLACK, _HISTOGRAM, _BAR, _GUIDE, _LABEL, _RED, _GREEN, _BLUE]
        colours = {WHITE}
        for base in bases:  # each blended with white: anti-aliased text
            for t in np.linspace(0.0, 1.0, 15)[:-1].tolist():
                red, green, blue = (round(c + (255 - c) * t) for c in base)
                colours.add((red, green, blue))
        self.palette = Palette(sorted(colours))
        self.ink = self.palette.index
        self.texts = TextStamps(self.palette, ImageFont.truetype(regular, 9),
                                ImageFont.truetype(bold, 13),
                                label=ImageFont.truetype(regular, 11))
        white = self.palette.white
        self.dots = {}
        for colour in (_RED, _GREEN):
            dot = np.full((4, 4), self.ink[colour], dtype=np.uint8)
            dot[[0, 0, 3, 3], [0, 3, 0, 3]] = white  # the corners are not drawn
            self.dots[colour] = stamp_bytes(dot, -2, -2, white)


@functools.cache
def _drawing() -> _Drawing:
    return _Drawing()


def _number(value: float) -> str:
    """A tick label: an integer as one ("40000"), else the shortest of 6 digits; a minus sign,
    not a hyphen."""
    text = str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"
    return text.replace("-", "\N{MINUS SIGN}")


def symlog(values: Any) -> Any:
    """The motion axis' scale: linear within one pixel of 0, logarithmic beyond (each decade
    as long as the span from 0 to 1)."""
    values = np.asarray(values, dtype=float)
    magnitude = np.abs(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        logarithmic = np.sign(values) * (1 + np.log10(np.maximum(magnitude, 1)))
    return np.where(magnitude <= 1, values, logarithmic)


def symlog_ticks(low: float, high: float) -> list[float]:
    """0, ±1 and the powers of ten whose place on `symlog`'s scale is within [low, high]."""
    powers = [10.0 ** k for k in range(0, 16)]
    candidates = sorted({0.0, *powers, *(-p for p in powers)})
    return [v for v in candidates if low <= float(symlog(v)) <= high]


class _Panel:
    """One of the six panels: its box on the canvas (left, top, right, bottom) and the data
    ranges it shows, on a linear or `symlog` x scale."""

    def __init__(self, canvas: np.ndarray, box: tuple[int, int, int, int],
                 x_range: tuple[float, float], y_range: tuple[float, float],
                 log_x: bool = False) -> None:
        self.canvas, self.box, self.log_x = canvas, box, log_x
        self.x_range = _widened(*x_range)
        self.y_range = _widened(*y_range)
        self.drawing = _drawing()

    def x(self, values: Any) -> np.ndarray:
        left, _, right, _ = self.box
        low, high = self.x_range
        shown = symlog(values) if self.log_x else np.asarray(values, dtype=float)
        return left + (shown - low) / (high - low) * (right - left)

    def y(self, values: Any) -> np.ndarray:
        _, top, _, bottom = self.box
        low, high = self.y_range
        return bottom - (np.asarray(values, dtype=float) - low) / (high - low) * (bottom - top)

    def text(self, xy: tuple[float, float], text: str, anchor: str, font: str = "small",
             colour: Colour = _BLACK) -> None:
        self.drawing.texts.paste(self.canvas, xy, text, anchor, colour, font)

    def frame(self, x_ticks: Sequence[float] = (), y_ticks: Sequence[float] = ()) -> None:
        left, top, right, bottom = self.box
        ink = self.drawing.ink[_BLACK]
        marks = []
        for value, x in zip(x_ticks, self.x(list(x_ticks)).tolist(), strict=True):
            marks.append((x, bottom, x, bottom + 4))
            self.text((x, bottom + 7), _number(value), "mt")
        for value, y in zip(y_ticks, self.y(list(y_ticks)).tolist(), strict=True):
            marks.append((left - 4, y, left, y))
            self.text((left - 6, y), _number(value), "rm")
        segments(self.canvas, marks, ink)
        outline(self.canvas, left, top, right, bottom, ink)

    def labels(self, title: str, x_label: str = "", y_label: str = "") -> None:
        left, top, right, bottom = self.box
        self.text(((left + right) / 2, top - 8), title, "ms", "label")
        if x_label:
            self.text(((left + right) / 2, bottom + 22), x_label, "mt", "label")
        if y_label:
            texts = self.drawing.texts
            stamp = turned_left(texts.stamp(y_label, "mm", _BLACK, "label"))
            paste(self.canvas, stamp, left - 50, (top + bottom) / 2)

    def bars(self, edges: np.ndarray, counts: np.ndarray, colour: Colour) -> None:
        """A histogram's bars, side by side from the x axis."""
        starts = np.rint(self.x(edges)).astype(int).tolist()
        tops = np.rint(self.y(counts)).astype(int).tolist()
        bottom = self.box[3] - 1
        ink = self.drawing.ink[colour]
        for i, count in enumerate(counts.tolist()):
            if count > 0:
                fill(self.canvas, starts[i], min(tops[i], bottom), starts[i + 1] - 1, bottom,
                     ink)

    def line(self, at: float, vertical: bool, colour: Colour, dash: tuple[int, int]) -> None:
        """A dashed line across the panel at x = `at` (`vertical`) or y = `at`, if inside."""
        left, top, right, bottom = self.box
        if vertical:
            position = float(self.x([at])[0])
            low, high = top + 1, bottom - 1
        else:
            position = float(self.y([at])[0])
            low, high = left + 1, right - 1
        if not (math.isfinite(position) and (left if vertical else top) < position
                < (right if vertical else bottom)):
            return
        on, off = dash
        pieces = [(start, min(start + on - 1, high)) for start in range(low, high + 1, on + off)]
        ends = [(position, a, position, b) if vertical else (a, position, b, position)
                for a, b in pieces]
        segments(self.canvas, ends, self.drawing.ink[colour], 2 if on > 1 else 1)

    def legend(self, entries: list[tuple[str, Colour, str]], corner: str) -> None:
        """A box of entries (a ``"dash"``, ``"line"`` or ``"dot"`` sample and a label) in the
        panel's upper-left (``"ul"``), upper-right (``"ur"``) or lower-left (``"ll"``)
        corner."""
        texts = self.drawing.texts
        width = 34 + max(texts.fonts["small"].getlength(label) for _, _, label in entries)
        height = 6 + 14 * len(entries)
        left, top, right, bottom = self.box
        x0 = int(left + 6 if corner in ("ul", "ll") else right - 6 - width)
        y0 = int(top + 6 if corner in ("ul", "ur") else bottom - 6 - height)
        ink = self.drawing.ink
        fill(self.canvas, x0, y0, x0 + int(width), y0 + height, ink[WHITE])
        outline(self.canvas, x0, y0, x0 + int(width), y0 + height, ink[_BAR])
        for i, (sample, colour, label) in enumerate(entries):
            y = y0 + 10 + 14 * i
            if sample == "dot":
                paste(self.canvas, self.drawing.dots[colour], x0 + 16, y)
            else:
                pieces = ((x0 + 6, x0 + 12), (x0 + 18, x0 + 24)) if sample == "dash" else \
                    ((x0 + 6, x0 + 24),)
                segments(self.canvas, [(a, y, b, y) for a, b in pieces], ink[colour], 2)
            self.text((x0 + 30, y), label, "lm")


def _widened(low: float, high: float) -> tuple[float, float]:
    """A range that can be drawn: finite, and not empty."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return (0.0, 1.0)
    if high <= low:
        return (low - 0.5, low + 0.5) if low else (0.0, 1.0)
    return (low, high)


def _padded(low: float, high: float, fraction: float = 0.05) -> tuple[float, float]:
    span = high - low
    return (low - fraction * span, high + fraction * span)


def draw(columns: Any, summary: Summary) -> tuple[np.ndarray, Palette]:
    """The summary figure of `columns` (`plots.SummaryColumns`) and `summary`, as a canvas and
    its palette."""
    drawing = _drawing()
    canvas = new_canvas(WIDTH, HEIGHT, drawing.palette.white)
    params = summary["parameters"]
    compared = np.isfinite(columns.corr)
    accepted = np.asarray(columns.accepted, dtype=bool)
    _scores(canvas, _box(0, 0), columns.corr[compared], params["min_corr"])
    _errors(canvas, _box(0, 1), columns.rmse_A, params["max_rmse_A"], "RMSE (Å)")
    _errors(canvas, _box(0, 2), columns.max_error_A, params["max_error_A"],
            "largest per-frame error (Å)")
    _motion(canvas, _box(1, 0), columns, compared, accepted, params)
    _along_session(canvas, _box(1, 1), accepted)
    _conventions(canvas, _box(1, 2, indent=20), summary.get("convention"))
    counts = summary["counts"]
    drawing.texts.paste(canvas, (WIDTH / 2, 24),
                        f"motioncons: {counts['paired']} movies, {counts['accepted']} accepted, "
                        f"{counts['discarded']} discarded (fit {params['fit']})", "mm", _BLACK,
                        "bold")
    return canvas, drawing.palette


def _box(row: int, column: int, indent: int = 0) -> tuple[int, int, int, int]:
    left, top = _COLUMNS[column] + indent, _ROWS[row]
    return (left, top, _COLUMNS[column] + _PANEL_WIDTH, top + _PANEL_HEIGHT)


def _histogram_panel(canvas: np.ndarray, box: tuple[int, int, int, int], edges: np.ndarray,
                     counts: np.ndarray, x_range: tuple[float, float], x_ticks: list[float]
                     ) -> _Panel:
    top = max(float(counts.max(initial=0)), 1.0) * 1.05
    panel = _Panel(canvas, box, x_range, (0.0, top))
    panel.bars(edges, counts, _HISTOGRAM)
    panel.frame(x_ticks, nice_ticks(0.0, top, 6))
    return panel


def _scores(canvas: np.ndarray, box: tuple[int, int, int, int], scores: np.ndarray,
            min_corr: float) -> None:
    edges = np.linspace(-1, 1, 81)
    counts, _ = np.histogram(np.clip(scores, -1, 1), bins=edges)
    panel = _histogram_panel(canvas, box, edges, counts, (-1.1, 1.1), nice_ticks(-1, 1, 5))
    panel.line(min_corr, True, _RED, (6, 4))
    panel.legend([("dash", _RED, f"--min-corr {min_corr}")], "ul")
    panel.labels("consensus score (min corr over informative axes)", "score", "movies")


def _errors(canvas: np.ndarray, box: tuple[int, int, int, int], values: np.ndarray,
            limit: float | None, title: str) -> None:
    values = values[np.isfinite(values)]
    upper = float(np.percentile(values, 99.5)) * 1.1 if values.size else 1.0
    if not (math.isfinite(upper) and upper > 0):
        upper = 1.0
    edges = np.linspace(0.0, upper, 81)
    counts, _ = np.histogram(np.clip(values, 0, upper), bins=edges)
    right = max(upper, limit * 1.05) if limit and math.isfinite(limit) else upper
    x_range = _padded(0.0, right)
    panel = _histogram_panel(canvas, box, edges, counts, x_range, nice_ticks(0.0, right, 6))
    if limit:
        panel.line(limit, True, _RED, (6, 4))
        panel.legend([("dash", _RED, f"limit {limit} Å")], "ur")
    panel.labels(title, y_label="movies")


def _motion(canvas: np.ndarray, box: tuple[int, int, int, int], columns: Any,
            compared: np.ndarray, accepted: np.ndarray, params: Parameters) -> None:
    motion = np.asarray(columns.range_ref_px, dtype=float)
    shown = compared & np.isfinite(motion)
    scale = symlog(motion[shown]) if shown.any() else np.zeros(0)
    low = min(float(scale.min(initial=0.0)), 0.0)
    high = max(float(scale.max(initial=1.0)), float(symlog(params["min_range_px"])), 1.0)
    x_range = _padded(low, high)
    panel = _Panel(canvas, box, x_range, (-1.1, 1.1), log_x=True)
    for colour, chosen in ((_GREEN, shown & accepted), (_RED, shown & ~accepted)):
        points = np.column_stack([panel.x(motion[chosen]), panel.y(columns.corr[chosen])])
        paste_at(canvas, _drawing().dots[colour], points)
    panel.line(params["min_corr"], False, _GUIDE, (5, 3))
    panel.line(params["min_range_px"], True, _GUIDE, (1, 2))
    panel.frame(symlog_ticks(*x_range), nice_ticks(-1, 1, 9))
    panel.legend([("dot", _GREEN, "accepted"), ("dot", _RED, "discarded")], "ll")
    panel.labels("score vs motion range", "reference motion range (px)", "score")


def _along_session(canvas: np.ndarray, box: tuple[int, int, int, int],
                   accepted: np.ndarray) -> None:
    movies = max(int(accepted.size), 1)
    panel = _Panel(canvas, box, _padded(0.0, movies), (-2.0, 102.0))
    if accepted.size:
        window = max(1, min(200, accepted.size // 10))
        rolling = np.convolve(accepted.astype(float), np.ones(window) / window, mode="valid")
        along = np.arange(rolling.size, dtype=float) + window
        polyline(canvas, np.column_stack([panel.x(along), panel.y(rolling * 100)]),
                 _drawing().ink[_BLUE], 2)
    panel.frame(nice_ticks(0.0, movies, 6), nice_ticks(0.0, 100.0, 6))
    panel.labels("acceptance along the session", "movie (acquisition order of the names)",
                 "% accepted (rolling)")


def _conventions(canvas: np.ndarray, box: tuple[int, int, int, int],
                 convention: dict[str, Any] | None) -> None:
    if not convention:
        _Panel(canvas, box, (0, 1), (0, 1)).labels("convention: not estimated (--fit xmipp)")
        return
    votes = convention["votes"]
    names = list(votes)
    most = max([float(v) for v in votes.values()] + [1.0]) * 1.05
    panel = _Panel(canvas, box, (0.0, most), (-0.6, len(names) - 0.4))
    ink = panel.drawing.ink
    left = round(float(panel.x([0.0])[0]))
    for i, name in enumerate(names):
        right = round(float(panel.x([float(votes[name])])[0]))
        top, bottom = (round(float(v)) for v in panel.y([i + 0.4, i - 0.4]))
        if right > left:
            fill(canvas, left, top, right, bottom,
                 ink[_GREEN if name == convention["applied"] else _BAR])
        panel.text((box[0] - 6, float(panel.y([i])[0])), name, "rm")
    panel.frame(nice_ticks(0.0, most, 5))
    scale = convention["scale"]
    panel.labels(f"convention: {convention['applied']}"
                 + (f", scale {scale:.3f}" if scale is not None else ""),
                 "moving movies voting")


def image(columns: Any, summary: Summary) -> tuple[np.ndarray, bytes]:
    """The summary figure's pixels as palette indices ((height, width), uint8) and its
    palette's RGB bytes: what a test reads back."""
    canvas, palette = draw(columns, summary)
    return pixels(canvas), palette.data

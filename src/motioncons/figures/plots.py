"""Figures: the per-movie trajectory overlay (PNG) and the dataset summary (PNG or PDF).

Metrics are never recomputed here: the rows carry them, and the reference and fitted secondary
trajectories the decision was made on.

Speed: one figure per process is built once and reused; each movie only replaces the data of
its artists and the texts, and movies are rendered by a pool of worker processes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..outputs.atomic import temporary_path, write_bytes
from ..records import Row, Summary
from ..workers import worker_pool
from .png import indexed_png

PLOT_CHOICES = ("none", "discarded", "all")
PLOT_DIR = "plots"
_COLOURS = {"reference": "#1f77b4", "secondary": "#d62728", "accepted": "#2ca02c",
            "discarded": "#d62728"}
_RGB = {name: (int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)) for name, h in _COLOURS.items()}
_BLACK, _WHITE, _GRID, _LABEL, _FRAME, _ERROR_LINE = (
    (0, 0, 0), (255, 255, 255), (230, 230, 230), (68, 68, 68), (187, 187, 187), (85, 85, 85))


def _matplotlib():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return matplotlib, plt


MAX_PLOT_STEM = 120


def plot_name(movie: str) -> str:
    """``plots/<movie>.png`` with only safe characters; a long name is cut and made unique with
    a hash of the whole (file names are limited to 255 bytes)."""
    safe = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_" for c in movie)
    if safe != movie or len(safe) > MAX_PLOT_STEM or safe.startswith("."):
        # Two names that differ only in unsafe characters must not share a file.
        digest = hashlib.sha1(movie.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        safe = f"{safe.lstrip('.')[:MAX_PLOT_STEM]}-{digest}"
    return f"{PLOT_DIR}/{safe}.png"


def wanted(rows: Iterable[Row], choice: str) -> list[Row]:
    if choice == "none":
        return []
    return [r for r in rows if (choice == "all" or not r.accepted) and drawable(r)]


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
    """Draws one movie after another with Pillow on a background rendered once.

    Layout: title and metrics on top; the trajectory panel (px, equal aspect, Å on the top and
    right axes, start marker, sparse frame labels, legend); below it the per-frame error panel.

    The figure is drawn straight in its fixed palette (lines and markers in palette indices,
    texts pasted from stamps already mapped to it) and encoded by `png.indexed_png`: no
    per-figure colour mapping, and a fifth of Pillow's encoding time.
    """

    WIDTH, HEIGHT = 560, 500
    MAIN = (70, 92, 480, 370)  # left, top, right, bottom
    ERROR = (70, 408, 480, 470)

    def __init__(self) -> None:
        from matplotlib import font_manager
        from PIL import Image, ImageDraw, ImageFont

        self.Image, self.ImageDraw = Image, ImageDraw
        path = font_manager.findfont("DejaVu Sans")
        self.font = ImageFont.truetype(path, 11)
        self.small = ImageFont.truetype(path, 9)
        self.bold = ImageFont.truetype(font_manager.findfont(
            font_manager.FontProperties(family="DejaVu Sans", weight="bold")), 13)
        self._fonts = {"small": self.small, "bold": self.bold}
        # How far below an "mm" anchor the baseline of the bold title lies.
        self._bold_baseline = (self.bold.getbbox("x", anchor="mm")[1]
                               - self.bold.getbbox("x", anchor="ls")[1])
        # (text, anchor, colour, font) -> (indexed core, mask core, width, height, dx, dy)
        self._stamps: dict[tuple[str, str, tuple[int, int, int], str], tuple[Any, ...]] = {}
        self._widths: dict[str, float] = {}
        self._advances: dict[str, float] = {}
        self._tail_widths: dict[str, float] = {}
        self._space = self.small.getlength(" ")
        colours = _palette_colours()
        self._ink = {colour: index for index, colour in enumerate(colours)}
        self._palette_bytes = bytes(value for colour in colours for value in colour)
        self._white = self._ink[_WHITE]
        self._ramps: dict[tuple[int, int, int], np.ndarray] = {}
        self._dots = {colour: self._dot(colour) for colour in _RGB.values()}
        self.background = self._background()

    def _indexed(self, image: Any) -> Any:
        """An RGB image mapped to the nearest colours of the figure's palette (Pillow's
        `quantize` maps by an approximate search: white becomes light grey)."""
        pixels = np.asarray(image.convert("RGB"), dtype=np.int32)
        keys = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
        distinct, where = np.unique(keys, return_inverse=True)
        colours = np.stack([distinct >> 16, (distinct >> 8) & 255, distinct & 255], axis=1)
        palette = np.frombuffer(self._palette_bytes, dtype=np.uint8).reshape(-1, 3)
        distances = ((colours[:, None, :] - palette[None, :, :].astype(np.int32)) ** 2).sum(2)
        indices = distances.argmin(axis=1).astype(np.uint8)[where].reshape(keys.shape)
        indexed = self.Image.fromarray(indices, "P")
        indexed.putpalette(self._palette_bytes)
        return indexed

    def _dot(self, colour: tuple[int, int, int]) -> tuple[Any, Any]:
        """A trajectory's sample marker (a disc 5 px across) and its mask, pasted as a stamp:
        a third of the cost of drawing an ellipse."""
        dot = self.Image.new("P", (5, 5), self._white)
        dot.putpalette(self._palette_bytes)
        self.ImageDraw.Draw(dot).ellipse([0, 0, 4, 4], fill=self._ink[colour])
        mask = self.Image.fromarray(np.asarray(dot) != self._white)
        dot.load()
        mask.load()
        return dot.im, mask.im

    def _small(self, xy: tuple[float, float], text: str, anchor: str,
               fill: tuple[int, int, int] = _BLACK, font: str = "small") -> None:
        """Text, from a cache of stamps already in the palette: tick values, frame numbers,
        legend labels and the glyphs of titles repeat from movie to movie, and rendering glyphs
        is most of a figure's cost."""
        key = (text, anchor, fill, font)
        stamp = self._stamps.get(key)
        if stamp is None:
            stamp = self._stamp(text, anchor, fill, self._fonts[font])
            if len(self._stamps) < 50_000:
                self._stamps[key] = stamp
        core, mask, width, height, dx, dy = stamp
        x, y = round(xy[0]) + dx, round(xy[1]) + dy
        # Image.paste without its checks: a figure pastes about 90 stamps.
        self._core.paste(core, (x, y, x + width, y + height), mask)

    def _stamp(self, text: str, anchor: str, fill: tuple[int, int, int],
               font: Any) -> tuple[Any, ...]:
        """`text` as it would be drawn on white, in the palette, with the mask of its
        non-white pixels: the glyphs' coverage, each level mapped to the nearest colour of
        `fill` blended with white (the figure's ramps)."""
        left, top, right, bottom = (int(v) for v in font.getbbox(text, anchor=anchor))
        size = (right - left + 2, bottom - top + 2)
        coverage = self.Image.new("L", size, 0)
        self.ImageDraw.Draw(coverage).text((1 - left, 1 - top), text, font=font, fill=255,
                                           anchor=anchor)
        indices = self._ramp(fill)[np.asarray(coverage)]
        indexed = self.Image.frombytes("P", size, indices.tobytes())
        mask = self.Image.frombytes(
            "L", size, np.where(indices != self._white, 255, 0).astype(np.uint8).tobytes())
        return (indexed.im, mask.im, size[0], size[1], left - 1, top - 1)

    def _ramp(self, fill: tuple[int, int, int]) -> np.ndarray:
        """The palette index of `fill` drawn over white at each coverage 0..255."""
        ramp = self._ramps.get(fill)
        if ramp is None:
            coverage = np.arange(256)[:, None] / 255
            colours = np.rint(255 + (np.array(fill) - 255) * coverage)
            palette = np.frombuffer(self._palette_bytes, dtype=np.uint8).reshape(-1, 3)
            distances = ((colours[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2)
            ramp = self._ramps[fill] = distances.argmin(axis=1).astype(np.uint8)
        return ramp

    def _small_words(self, centre: tuple[float, float], text: str) -> None:
        """A line of small text centred on `centre`, word by word from the stamp cache: the
        metrics line's words and numbers repeat from movie to movie, the line does not."""
        words = text.split(" ")
        widths = []
        for word in words:
            width = self._widths.get(word)
            if width is None:
                width = self._widths[word] = self.small.getlength(word)
            widths.append(width)
        x = centre[0] - (sum(widths) + self._space * (len(words) - 1)) / 2
        for word, width in zip(words, widths, strict=True):
            if word:
                self._small((x, centre[1]), word, "lm")
            x += width + self._space

    def _title(self, centre: tuple[float, float], text: str, fill: tuple[int, int, int],
               tail: str = "") -> None:
        """The bold title `text` + `tail` centred on `centre`: `text` (a movie name) glyph by
        glyph from the stamp cache, each glyph advanced as the font sets the pair it ends
        (kerning included), and `tail` (which repeats from movie to movie) as one stamp. A
        title that is not printable ASCII (combining marks, right-to-left names) is rendered
        whole."""
        whole = text + tail
        if not (whole.isascii() and whole.isprintable()):
            self._paste_whole(centre, whole, fill)
            return
        starts = [0.0]
        for i in range(1, len(whole) if not tail else len(text) + 1):
            starts.append(starts[-1] + self._advance(whole[i - 1: i + 1]))
        if tail:
            width = self._tail_widths.get(tail)
            if width is None:
                width = self._tail_widths[tail] = self.bold.getlength(tail)
            width += starts[-1]
        else:
            width = starts[-1] + self._advance(text[-1]) if text else 0.0
        left = centre[0] - width / 2
        baseline = centre[1] + self._bold_baseline
        for char, start in zip(text, starts, strict=False):
            if char != " ":
                self._small((left + start, baseline), char, "ls", fill, "bold")
        if tail:
            self._small((left + starts[-1], baseline), tail, "ls", fill, "bold")

    def _advance(self, pair: str) -> float:
        """How far the second glyph of a `pair` starts after the first (kerning included); of
        a single glyph, its width."""
        advance = self._advances.get(pair)
        if advance is None:
            advance = self.bold.getlength(pair) - self.bold.getlength(pair[1:])
            if len(self._advances) < 50_000:
                self._advances[pair] = advance
        return advance

    def _paste_whole(self, centre: tuple[float, float], text: str,
                     fill: tuple[int, int, int]) -> None:
        core, mask, width, height, dx, dy = self._stamp(text, "mm", fill, self.bold)
        x, y = round(centre[0]) + dx, round(centre[1]) + dy
        self._core.paste(core, (x, y, x + width, y + height), mask)

    def _rotated(self, text: str, font: Any) -> Any:
        box = font.getbbox(text)
        image = self.Image.new("RGBA", (box[2] + 4, box[3] + 4), (255, 255, 255, 0))
        self.ImageDraw.Draw(image).text((2, 2), text, font=font, fill=_BLACK)
        return image.rotate(90, expand=True)

    def _background(self) -> Any:
        """The axis labels, drawn once, in the palette."""
        image = self.Image.new("RGB", (self.WIDTH, self.HEIGHT), "white")
        draw = self.ImageDraw.Draw(image)
        left, top, right, bottom = self.MAIN
        draw.text(((left + right) / 2, bottom + 28), "x shift (px)", font=self.font,
                  fill=_BLACK, anchor="mm")
        draw.text(((left + right) / 2, top - 30), "x (Å)", font=self.small, fill=_BLACK,
                  anchor="mm")
        image.paste(ylabel := self._rotated("y shift (px)", self.font),
                    (8, (top + bottom) // 2 - ylabel.size[1] // 2), ylabel)
        image.paste(angstrom := self._rotated("y (Å)", self.small),
                    (self.WIDTH - 24, (top + bottom) // 2 - angstrom.size[1] // 2), angstrom)
        left, top, right, bottom = self.ERROR
        draw.text(((left + right) / 2, bottom + 22), "frame", font=self.font, fill=_BLACK,
                  anchor="mm")
        image.paste(err := self._rotated("error (px)", self.small),
                    (14, (top + bottom) // 2 - err.size[1] // 2), err)
        return self._indexed(image)

    def draw(self, row: Row, path: Path) -> None:
        ref = np.asarray(row.reference_shifts, dtype=float)
        sec = np.asarray(row.secondary_fitted, dtype=float)
        frames = (np.asarray(row.sample_frames) if row.sample_frames is not None
                  else np.arange(1, len(ref) + 1))
        image = self.background.copy()
        self._core = image.im
        draw = self.ImageDraw.Draw(image)
        self._title((self.WIDTH / 2, 14), row.movie,
                    _RGB["accepted" if row.accepted else "discarded"],
                    f": {row.decision} ({row.reason})")
        self._small_words((self.WIDTH / 2, 34),
                          f"corr_x {_fmt(row.corr_x)}   corr_y {_fmt(row.corr_y)}   score "
                          f"{_fmt(row.corr)}   RMSE {_fmt(row.rmse_px)} px / "
                          f"{_fmt(row.rmse_A)} Å   max {_fmt(row.max_error_px)} px")
        self._trajectories(draw, ref, sec, frames, row.pixel_size_A)
        self._errors(draw, frames, np.hypot(*(ref - sec).T))
        data = indexed_png(np.asarray(image), self._palette_bytes)
        write_bytes(path, data, durable=False)

    def _trajectories(self, draw, ref: np.ndarray, sec: np.ndarray, frames: np.ndarray,
                      pixel_size: float) -> None:
        ink = self._ink
        line = draw.draw.draw_lines  # ImageDraw.line without its checks
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

        def pixels(points: np.ndarray) -> np.ndarray:
            return points * to_pixels + origin

        def px(points: np.ndarray) -> list[tuple[float, float]]:
            return list(map(tuple, pixels(points).tolist()))

        x_range = (x0, x0 + (right - left) / scale)
        y_range = (y0, y0 + (bottom - top) / scale)
        for value in nice_ticks(*x_range, 6):
            x = left + (value - x0) * scale
            line([(x, top), (x, bottom)], ink[_GRID], 1)
            line([(x, bottom), (x, bottom + 4)], ink[_BLACK], 1)
            self._small((x, bottom + 12), _tick_text(value), "mm")
        for value in nice_ticks(*y_range, 6):
            y = bottom - (value - y0) * scale
            line([(left, y), (right, y)], ink[_GRID], 1)
            line([(left - 4, y), (left, y)], ink[_BLACK], 1)
            self._small((left - 6, y), _tick_text(value), "rm")
        if math.isfinite(pixel_size) and pixel_size > 0:
            for value in nice_ticks(x_range[0] * pixel_size, x_range[1] * pixel_size, 6):
                x = left + (value / pixel_size - x0) * scale
                line([(x, top - 4), (x, top)], ink[_BLACK], 1)
                self._small((x, top - 12), _tick_text(value), "mm")
            for value in nice_ticks(y_range[0] * pixel_size, y_range[1] * pixel_size, 6):
                y = bottom - (value / pixel_size - y0) * scale
                line([(right, y), (right + 4, y)], ink[_BLACK], 1)
                self._small((right + 6, y), _tick_text(value), "lm")
        draw.rectangle([left, top, right, bottom], outline=ink[_BLACK])
        paste = self._core.paste
        for samples, colour in ((ref, _RGB["reference"]), (sec, _RGB["secondary"])):
            line(px(samples), ink[colour], 2)
            dot, mask = self._dots[colour]
            for x, y in (np.rint(pixels(samples)) - 2).astype(int).tolist():
                paste(dot, (x, y, x + 5, y + 5), mask)
        start = px(ref[:1])[0]
        draw.regular_polygon((start[0], start[1], 7), 5, fill=ink[_BLACK])
        step = max(1, math.ceil(len(frames) / 6))
        for (x, y), frame in list(zip(px(ref), frames.tolist(), strict=True))[::step]:
            self._small((x + 5, y - 5), str(int(frame)), "lb", fill=_LABEL)
        legend = ((_RGB["reference"], "reference"), (_RGB["secondary"], "secondary (fitted)"),
                  (_BLACK, "first frame"))
        draw.rectangle([left + 6, top + 6, left + 140, top + 52], fill=ink[_WHITE],
                       outline=ink[_FRAME])
        for i, (colour, label) in enumerate(legend):
            y = top + 15 + 14 * i
            line([(left + 12, y), (left + 32, y)], ink[colour], 2)
            self._small((left + 38, y), label, "lm")

    def _errors(self, draw, frames: np.ndarray, error: np.ndarray) -> None:
        ink = self._ink
        line = draw.draw.draw_lines  # ImageDraw.line without its checks
        left, top, right, bottom = self.ERROR
        f0 = float(frames[0])
        f1 = float(frames[-1]) if frames[-1] > frames[0] else f0 + 1
        ceiling = max(float(error.max()) * 1.15, 0.05)
        for value in nice_ticks(0, ceiling, 3):
            y = bottom - value / ceiling * (bottom - top)
            line([(left, y), (right, y)], ink[_GRID], 1)
            self._small((left - 6, y), _tick_text(value), "rm")
        for value in nice_ticks(f0, f1, 8):
            x = left + (value - f0) / (f1 - f0) * (right - left)
            line([(x, bottom), (x, bottom + 4)], ink[_BLACK], 1)
            self._small((x, bottom + 11), _tick_text(value), "mm")
        xs = left + (frames - f0) / (f1 - f0) * (right - left)
        ys = bottom - error / ceiling * (bottom - top)
        line(list(zip(xs.tolist(), ys.tolist(), strict=True)), ink[_ERROR_LINE], 1)
        draw.rectangle([left, top, right, bottom], outline=ink[_BLACK])


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


@functools.cache
def _plotter() -> OverlayPlotter:
    """One plotter per process (its background and fonts are made once)."""
    return OverlayPlotter()


def _draw_chunk(job: tuple[str, list[Row]]) -> int:
    out_dir, rows = job
    plotter = _plotter()
    for row in rows:
        plotter.draw(row, Path(out_dir) / plot_name(row.movie))
    return len(rows)


def drawable(row: Row) -> bool:
    """Trajectories a figure can show: finite, and not so large that pixel maths overflows."""
    arrays = (row.reference_shifts, row.secondary_fitted)
    return all(a is not None and len(a) > 0 and bool(np.isfinite(a).all())
               and float(np.abs(a).max()) < 1e9 for a in arrays)


def render_overlays(rows: list[Row], out_dir: Path, workers: int | None = None,
                    progress=None) -> int:
    """Draw the overlay of every row (that carries trajectories) into ``out_dir/plots``."""
    with rendering(rows, out_dir, workers, progress) as done:
        pass
    return done[0]


@contextlib.contextmanager
def rendering(rows: list[Row], out_dir: Path, workers: int | None = None,
              progress=None) -> Iterator[list[int]]:
    """Draw the overlays of `rows` in worker processes while the body of the ``with`` runs
    (the report, the summary figure), and wait for every one at its end. Yields a one-item
    list that holds the number drawn once the block has ended."""
    done = [0]
    if not rows:
        yield done
        return
    workers = workers or min(os.cpu_count() or 1, 8)
    size = max(1, min(50, math.ceil(len(rows) / workers)))
    chunks = [(str(out_dir), rows[i: i + size]) for i in range(0, len(rows), size)]
    _plotter()  # made once, here: the forked workers inherit its fonts and background
    with worker_pool(workers if len(rows) >= 20 else 1) as pool:
        futures = [pool.submit(_draw_chunk, chunk) for chunk in chunks] if pool else None
        yield done
        results = (f.result() for f in futures) if futures is not None else \
            map(_draw_chunk, chunks)
        for count in results:
            done[0] += count
            if progress:
                progress(done[0], len(rows))


# --------------------------------------------------------------------------- summary figure


def summary_figure(rows: list[Row], summary: Summary):
    """The dataset at a glance: score, RMSE and max error histograms, score vs motion, acceptance
    along acquisition order, and the convention votes."""
    _, plt = _matplotlib()
    params = summary["parameters"]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), dpi=90)
    compared = [r for r in rows if math.isfinite(r.corr)]
    accepted = np.array([r.accepted for r in rows], dtype=bool)
    ax = axes[0, 0]
    scores = np.array([r.corr for r in compared])
    ax.hist(scores, bins=np.linspace(-1, 1, 81), color="#777", histtype="stepfilled")
    ax.axvline(params["min_corr"], color="#d62728", ls="--",
               label=f"--min-corr {params['min_corr']}")
    ax.set_title("consensus score (min corr over informative axes)", fontsize=9)
    ax.set_xlabel("score")
    ax.set_ylabel("movies")
    ax.legend(fontsize=8)
    for ax, field, limit, title in ((axes[0, 1], "rmse_A", params["max_rmse_A"], "RMSE (Å)"),
                                    (axes[0, 2], "max_error_A", params["max_error_A"],
                                     "largest per-frame error (Å)")):
        values = np.array([getattr(r, field) for r in rows])
        values = values[np.isfinite(values)]
        if values.size:
            upper = float(np.percentile(values, 99.5)) * 1.1 or 1.0
            ax.hist(np.clip(values, 0, upper), bins=80, range=(0, upper), color="#777",
                    histtype="stepfilled")
        if limit:
            ax.axvline(limit, color="#d62728", ls="--", label=f"limit {limit} Å")
            ax.legend(fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("movies")
    ax = axes[1, 0]
    for decision, colour in (("accepted", _COLOURS["accepted"]),
                             ("discarded", _COLOURS["discarded"])):
        chosen = [r for r in compared if r.decision == decision]
        # Arrays, not lists: matplotlib turns a list into a masked array element by element.
        ax.scatter(np.array([r.range_ref_px for r in chosen], dtype=float),
                   np.array([r.corr for r in chosen], dtype=float), s=6, alpha=0.6,
                   color=colour, label=decision)
    ax.axhline(params["min_corr"], color="#555", ls="--", lw=0.8)
    ax.axvline(params["min_range_px"], color="#555", ls=":", lw=0.8)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("reference motion range (px)")
    ax.set_ylabel("score")
    ax.set_title("score vs motion range", fontsize=9)
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    if accepted.size:
        window = max(1, min(200, accepted.size // 10))
        rolling = np.convolve(accepted.astype(float), np.ones(window) / window, mode="valid")
        ax.plot(np.arange(rolling.size) + window, rolling * 100, color="#1f77b4")
    ax.set_ylim(-2, 102)
    ax.set_xlabel("movie (acquisition order of the names)")
    ax.set_ylabel("% accepted (rolling)")
    ax.set_title("acceptance along the session", fontsize=9)
    ax = axes[1, 2]
    convention = summary.get("convention")
    if convention:
        names = list(convention["votes"])
        ax.barh(names, [convention["votes"][n] for n in names],
                color=["#2ca02c" if n == convention["applied"] else "#999" for n in names])
        scale = convention["scale"]
        ax.set_title(f"convention: {convention['applied']}"
                     + (f", scale {scale:.3f}" if scale is not None else ""), fontsize=9)
        ax.set_xlabel("moving movies voting")
        ax.tick_params(labelsize=7)
    else:
        ax.axis("off")
        ax.set_title("convention: not estimated (--fit xmipp)", fontsize=9)
    counts = summary["counts"]
    fig.suptitle(f"motioncons: {counts['paired']} movies, {counts['accepted']} accepted, "
                 f"{counts['discarded']} discarded (fit {params['fit']})", fontsize=11)
    # What tight_layout finds for this figure, fixed: it costs as much as drawing the figure.
    fig.subplots_adjust(left=0.07, right=0.985, bottom=0.085, top=0.875, wspace=0.36,
                        hspace=0.3)
    return fig


def save_summary(rows: list[Row], summary: Summary, path: Path) -> None:
    _, plt = _matplotlib()
    fig = summary_figure(rows, summary)
    try:
        with temporary_path(path) as temporary:
            fig.savefig(temporary, format=path.suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)

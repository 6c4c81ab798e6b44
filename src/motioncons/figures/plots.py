"""Figures: which movies get an overlay and where (`plot_name`), the overlays drawn by a pool of
worker processes (`rendering`, each process with one `overlay.OverlayPlotter`), but for those
already on disk as they would be drawn (`needs_drawing`), and the dataset summary figure (PNG or
PDF, `summary_figure`).

Metrics are never recomputed here: the rows carry them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..outputs.atomic import write_bytes
from ..records import Row, Summary
from ..workers import worker_pool
from . import summary_figure
from .overlay import KEY_WORD, OverlayPlotter, overlay_key
from .pdf import indexed_pdf
from .png import indexed_png_rows, tail_text

PLOT_DIR = "plots"


MAX_PLOT_STEM = 120


_SAFE_NAME = re.compile(rf"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{{0,{MAX_PLOT_STEM - 1}}}")


def plot_name(movie: str) -> str:
    """``plots/<movie>.png`` with only safe characters; a long name is cut and made unique with
    a hash of the whole (file names are limited to 255 bytes)."""
    if _SAFE_NAME.fullmatch(movie):  # most names: nothing to change
        return f"{PLOT_DIR}/{movie}.png"
    safe = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_" for c in movie)
    if safe != movie or len(safe) > MAX_PLOT_STEM or safe.startswith("."):
        # Two names that differ only in unsafe characters must not share a file.
        import hashlib  # here: it maps OpenSSL's library, 4 MB, into every process

        digest = hashlib.sha1(movie.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        safe = f"{safe.lstrip('.')[:MAX_PLOT_STEM]}-{digest}"
    return f"{PLOT_DIR}/{safe}.png"


def wanted(rows: Iterable[Row], choice: str) -> list[Row]:
    if choice == "none":
        return []
    return [r for r in rows if (choice == "all" or not r.accepted) and drawable(r)]


@functools.cache
def _plotter() -> OverlayPlotter:
    """One plotter per process (its background and fonts are made once)."""
    return OverlayPlotter()


_DRAWINGS: dict[int, tuple[str, list[Row]]] = {}
"""The output folder and rows of each `rendering` under way, by a number: its forked workers
find their rows here, inherited, instead of receiving them pickled (0.2 s of CPU for 5,000
rows)."""


def _draw_chunk(job: tuple[int, int, int]) -> int:
    drawing, start, stop = job
    out_dir, rows = _DRAWINGS[drawing]
    plotter = _plotter()
    for row in rows[start:stop]:
        plotter.draw(row, os.path.join(out_dir, plot_name(row.movie)))
    return stop - start


def drawable(row: Row) -> bool:
    """Trajectories a figure can show: finite, and not so large that pixel maths overflows
    (NaN and infinities are not below the bound either)."""
    arrays = (row.reference_shifts, row.secondary_fitted)
    return all(a is not None and len(a) > 0 and bool((np.abs(a) < 1e9).all()) for a in arrays)


def render_overlays(rows: list[Row], out_dir: Path, workers: int | None = None,
                    progress=None) -> int:
    """Draw the overlay of every row (that carries trajectories) into ``out_dir/plots``, but
    for those already there as they would be drawn (`needs_drawing`); the number drawn."""
    with rendering(rows, out_dir, workers, progress) as done:
        pass
    return done[0]


LISTED_FROM = 256
"""From this many rows on, `needs_drawing` lists the plots folder once instead of trying to
open each row's overlay (a poll of ``watch`` has a few new movies; a run, thousands)."""


def needs_drawing(rows: list[Row], out_dir: Path) -> list[Row]:
    """The rows whose overlay is not in ``out_dir/plots`` as it would be drawn now: each
    overlay ends with the key of what it shows (`overlay.overlay_key`), read from the file's
    last bytes. In a new folder, all of them, with nothing read."""
    present: set[str] | None = None
    if len(rows) >= LISTED_FROM:
        try:
            present = {entry.name for entry in os.scandir(Path(out_dir) / PLOT_DIR)}
        except OSError:
            return rows
    stale = []
    folder = os.fspath(out_dir)
    for row in rows:
        name = plot_name(row.movie)
        found = None if present is not None and name[len(PLOT_DIR) + 1:] not in present \
            else tail_text(os.path.join(folder, name))
        if found is None or found != (KEY_WORD, overlay_key(row)):  # no key made for no file
            stale.append(row)
    return stale


@contextlib.contextmanager
def rendering(rows: list[Row], out_dir: Path, workers: int | None = None,
              progress=None) -> Iterator[list[int]]:
    """Draw the overlays of `rows` (`needs_drawing`) in worker processes while the body of the
    ``with`` runs (the report, the summary figure), and wait for every one at its end. Yields a
    one-item list that holds the number drawn once the block has ended."""
    done = [0]
    rows = needs_drawing(rows, out_dir)
    if not rows:
        yield done
        return
    workers = workers or min(os.cpu_count() or 1, 8)
    size = max(1, min(50, math.ceil(len(rows) / workers)))
    drawing = max(_DRAWINGS, default=0) + 1
    chunks = [(drawing, i, min(i + size, len(rows))) for i in range(0, len(rows), size)]
    _plotter()  # made once, here: the forked workers inherit its fonts and background
    _DRAWINGS[drawing] = (str(out_dir), rows)  # before the workers are forked
    try:
        with worker_pool(workers if len(rows) >= 20 else 1) as pool:
            futures = [pool.submit(_draw_chunk, chunk) for chunk in chunks] if pool else None
            yield done
            results = (f.result() for f in futures) if futures is not None else \
                map(_draw_chunk, chunks)
            for count in results:
                done[0] += count
                if progress:
                    progress(done[0], len(rows))
    finally:
        del _DRAWINGS[drawing]


# --------------------------------------------------------------------------- summary figure


@dataclasses.dataclass(frozen=True)
class SummaryColumns:
    """What the summary figure shows of the rows, as arrays in the rows' order (a few MB at
    50,000 movies, sent to the process that draws it)."""

    corr: np.ndarray
    rmse_A: np.ndarray
    max_error_A: np.ndarray
    range_ref_px: np.ndarray
    accepted: np.ndarray

    @classmethod
    def of(cls, rows: list[Row]) -> SummaryColumns:
        def column(field: str) -> np.ndarray:
            return np.array([getattr(row, field) for row in rows], dtype=float)

        return cls(column("corr"), column("rmse_A"), column("max_error_A"),
                   column("range_ref_px"), np.array([r.accepted for r in rows], dtype=bool))


def save_summary(rows: list[Row] | SummaryColumns, summary: Summary, path: Path) -> None:
    """The summary figure (`summary_figure.draw`) written to `path`: a PDF page where the
    name ends in ``.pdf`` (RELION's ``logfile.pdf``), else a PNG."""
    shown = rows if isinstance(rows, SummaryColumns) else SummaryColumns.of(rows)
    canvas, palette = summary_figure.draw(shown, summary)
    if Path(path).suffix.lower() == ".pdf":
        data = indexed_pdf(canvas, palette.data, summary_figure.DPI)
    else:
        data = indexed_png_rows(canvas, palette.data)
    write_bytes(path, data)

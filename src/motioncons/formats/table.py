"""A plain table so that any aligner can be fed in: CSV or TSV with a header row.

Required columns ``movie,frame,x,y``; optional ``pixel_size`` (Å per unbinned movie pixel).
Shifts must already be in the canonical convention: unbinned movie pixels, the shift applied to the
frame (RELION's sign), 1-based frame numbers. Rows of one movie need not be contiguous.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..trajectory import Problem, Trajectory, TrajectorySet, movie_key
from .common import problem, unreadable

NAME = "table"
REQUIRED = ("movie", "frame", "x", "y")


def detect(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in (".csv", ".tsv", ".txt")


def read(path: Path, pixel_size: float | None = None) -> TrajectorySet:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            sample = handle.read(4096)
            handle.seek(0)
            first_line = sample.splitlines()[0] if sample else ""
            delimiter = "\t" if "\t" in first_line else ","
            reader = csv.DictReader(handle, delimiter=delimiter)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise InputError(path, f"table lacks column(s) {', '.join(missing)} (need "
                                       "movie,frame,x,y and optionally pixel_size)")
            reader.fieldnames = header
            rows_by_movie: dict[str, list[tuple[str, str, str, str, int]]] = defaultdict(list)
            for line_number, row in enumerate(reader, start=2):
                rows_by_movie[row["movie"]].append((row["frame"], row["x"], row["y"],
                                                    row.get("pixel_size") or "", line_number))
    except UnicodeDecodeError:
        raise InputError(path, "not a text table (cannot decode as UTF-8)") from None
    except csv.Error as exc:
        raise InputError(path, f"malformed table: {exc}") from exc
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from exc
    if not rows_by_movie:
        raise InputError(path, "the table has no rows")
    dataset = TrajectorySet(path=str(path), format="table")
    for name, rows in rows_by_movie.items():
        try:
            dataset.add(_movie(path, name, rows, pixel_size))
        except Exception as exc:  # any failure of one movie is its problem
            dataset.add(unreadable(path, exc, name=name))
    return dataset


def _movie(path: Path, name: str, rows: list[tuple[str, str, str, str, int]],
           default_pixel_size: float | None) -> Trajectory | Problem:
    key = movie_key(name)
    try:
        values = np.array([r[:3] for r in rows], dtype=np.float64)
    except ValueError:
        bad = next(r[4] for r in rows if not _is_number_row(r[:3]))
        return problem(key, name, path, "unreadable",
                       f"line {bad}: non-numeric frame or shift for movie {name}")
    order = np.argsort(values[:, 0], kind="stable")
    values = values[order]
    frames = values[:, 0]
    if np.any(frames != np.round(frames)) or np.any(np.diff(frames) <= 0):
        return problem(key, name, path, "unreadable",
                       f"movie {name}: frame numbers are not distinct integers")
    sizes = {r[3] for r in rows if r[3]}
    pixel_size = default_pixel_size
    if sizes:
        try:
            pixel_size = float(sizes.pop())
        except ValueError:
            pixel_size = default_pixel_size
    return Trajectory(key=key, movie_name=name, frames=frames.astype(np.int64),
                      shifts=np.ascontiguousarray(values[:, 1:]), pixel_size=pixel_size,
                      source=str(path), program=NAME, total_frames=None)


def _is_number_row(values: tuple[str, ...]) -> bool:
    try:
        [float(v) for v in values]
    except ValueError:
        return False
    return True

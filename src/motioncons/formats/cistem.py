"""Unblur 1.0.x shift files and cisTEM ``unblur`` shift text files, both in Å.

Unblur 1.0.x: ``#`` header (with ``Pixel size (A): p``), then two lines: all x, all y. cisTEM:
``# X/Y Shifts for file ...`` then one ``x y`` line per frame (zero at the middle frame). Both use
RELION's sign. Å become pixels with the pixel size in the file, else that of the paired movie of
the other input, else ``--pixel-size``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..trajectory import Problem, Trajectory, TrajectorySet, movie_key
from .common import problem, read_files

NAME = "cistem"
_PIXEL = re.compile(r"Pixel size \(A\):\s*([\d.eE+-]+)")


def _kind_of(text: str) -> str | None:
    if "Unblur shifts file" in text or "Shifts below are given in Angstroms" in text:
        return "unblur"
    if "X/Y Shifts for file" in text:
        return "cistem"
    return None


def _kind(path: Path) -> str | None:
    try:
        with open(path, errors="replace") as handle:
            return _kind_of(handle.read(2000))
    except OSError:
        return None


def detect(path: Path) -> bool:
    if path.is_dir():
        return any(_kind(p) for p in path.glob("*.txt"))
    return path.is_file() and path.suffix == ".txt" and _kind(path) is not None


def read(path: Path, pixel_size: float | None = None) -> TrajectorySet:
    # In a folder of shift files every .txt is a result: a broken one (empty, truncated, UTF-16,
    # no header) is its movie's problem, not a file that silently vanishes.
    files = sorted(p for p in path.glob("*.txt") if p.is_file()) if path.is_dir() else [path]
    return read_files(path, files, "unblur/cistem shifts (Å)",
                      lambda f: read_file(f, pixel_size), "no Unblur/cisTEM shift files")


def read_file(file: Path, pixel_size: float | None) -> Trajectory | Problem:
    key, name = movie_key(file.name), file.name
    try:
        text = file.read_text(errors="replace")
    except OSError as exc:
        return problem(key, name, file, "unreadable", f"cannot read: {exc}")
    if _kind_of(text[:2000]) is None:
        return problem(key, name, file, "unreadable",
                       "not an Unblur/cisTEM shift file (no header line)")
    data = [line.split() for line in text.splitlines() if line.strip() and
            not line.lstrip().startswith("#")]
    source = "--pixel-size" if pixel_size else None
    try:
        if _kind_of(text[:2000]) == "unblur":
            if len(data) < 2 or len(data[0]) != len(data[1]):
                raise ValueError("two lines of equal length expected")
            angstrom = np.column_stack([np.array(data[0], float), np.array(data[1], float)])
            found = _PIXEL.search(text)
            if found:
                pixel_size, source = float(found.group(1)), "file"
        else:
            angstrom = np.array(data, dtype=float).reshape(-1, 2)
    except ValueError as exc:
        return problem(key, name, file, "unreadable", f"malformed shifts ({exc})")
    # Without a pixel size the pipeline converts once it knows the paired movie's.
    extras: dict[str, Any] = {"units": "Å", "angstrom": angstrom,
                                 "needs_pixel_size": not pixel_size}
    if source:
        extras["pixel_size_from"] = source
    shifts = angstrom / pixel_size if pixel_size else angstrom
    return Trajectory(key, name, np.arange(1, len(angstrom) + 1), shifts, pixel_size, str(file),
                      NAME, None, extras)

"""IMOD ``alignframes -xfext`` transform files: ``1 0 0 1 DX DY`` per frame, in line order.

DX, DY are unbinned frame pixels and the shift applied to the frame (RELION's sign, from the
code; the y sign for TIFF input is unconfirmed, and the dataset convention check would expose a
flip). No pixel size is stored: it comes from the paired movie or ``--pixel-size``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..trajectory import Problem, Trajectory, TrajectorySet, movie_key
from .common import problem, read_files

NAME = "imod"


def detect(path: Path) -> bool:
    if path.is_dir():
        return any(path.glob("*.xf"))
    return path.suffix == ".xf"


def read(path: Path, pixel_size: float | None = None) -> TrajectorySet:
    files = sorted(path.glob("*.xf")) if path.is_dir() else [path]
    return read_files(path, files, "imod xf", lambda f: read_file(f, pixel_size),
                      "no .xf files")


def read_file(file: Path, pixel_size: float | None) -> Trajectory | Problem:
    key, name = movie_key(file.name), file.name
    try:
        rows = [line.split() for line in file.read_text().splitlines() if line.strip()]
        values = np.array(rows, dtype=np.float64)
    except (OSError, ValueError):
        return problem(key, name, file, "unreadable",
                       "not an IMOD transform file (6 numbers per line)")
    if values.ndim != 2 or values.shape[1] != 6 or not len(values):
        return problem(key, name, file, "unreadable",
                       "expected lines of 6 numbers (A11 A12 A21 A22 DX DY)")
    return Trajectory(key, name, np.arange(1, len(values) + 1), values[:, 4:6].copy(),
                      pixel_size, str(file), NAME, None,
                      {"pixel_size_from": "--pixel-size"} if pixel_size else {})

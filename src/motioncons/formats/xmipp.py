"""Xmipp / FlexAlign ``<movie>_shifts.xmd``: the ``frameShifts`` block, columns by name.

``shiftX`` / ``shiftY`` (legacy ``Xoff`` / ``Yoff``) are the shift to apply to each frame (RELION's
sign) in unbinned pixels (Xmipp files written before 2023 with ``--bin`` > 1 were in binned
pixels: the dataset scale check exposes that). Rows with ``enabled`` -1 were not aligned and are
dropped. Frame numbers come from the ``N@movie`` image names when present, else row order.
"""

from __future__ import annotations

from pathlib import Path

import gemmi
import numpy as np

from ..trajectory import Problem, Trajectory, TrajectorySet, movie_key
from .common import problem, read_files
from .star import parse_cif

NAME = "xmipp"


def detect(path: Path) -> bool:
    if path.is_dir():
        return any(path.glob("*_shifts.xmd"))
    return path.suffix == ".xmd"


def read(path: Path, pixel_size: float | None = None) -> TrajectorySet:
    files = sorted(path.glob("*_shifts.xmd")) if path.is_dir() else [path]
    return read_files(path, files, "xmipp shifts.xmd", lambda f: read_file(f, pixel_size),
                      "no *_shifts.xmd files")


def _column(block: gemmi.cif.Block, *tags: str) -> list[str] | None:
    for tag in tags:
        column = block.find_loop(tag)
        if column.get_loop() is not None:
            return list(column)
    return None


def read_file(file: Path, pixel_size: float | None) -> Trajectory | Problem:
    name = file.name
    key = movie_key(name)

    def fail(reason: str, text: str) -> Problem:
        return problem(key, name, file, reason, text)

    try:
        doc, _ = parse_cif(file.read_text(encoding="utf-8"))
    except (ValueError, RuntimeError, UnicodeDecodeError) as exc:
        return fail("unreadable", f"malformed Xmipp metadata: {' '.join(str(exc).split())}")
    block = doc.find_block("frameShifts")
    if block is None:
        return fail("unreadable", "no frameShifts block")
    xs, ys = _column(block, "_shiftX", "_Xoff"), _column(block, "_shiftY", "_Yoff")
    if not xs or not ys:
        return fail("unreadable", "frameShifts has no shiftX/shiftY columns")
    enabled = _column(block, "_enabled") or ["1"] * len(xs)
    images = _column(block, "_image")
    try:
        shifts = np.column_stack([np.array(xs, float), np.array(ys, float)])
        keep = np.array(enabled, float) != -1
        frames = (np.array([int(gemmi.cif.as_string(i).split("@")[0]) for i in images])
                  if images and all("@" in i for i in images) else np.arange(1, len(xs) + 1))
    except ValueError:
        return fail("unreadable", "non-numeric value in frameShifts")
    return Trajectory(key, name, frames[keep].astype(np.int64), shifts[keep], pixel_size,
                      str(file), NAME, None, {})

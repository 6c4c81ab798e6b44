"""Readers: one module per program, each converting to the canonical convention (DESIGN §3).

`read_input(path)` detects the format and returns a `TrajectorySet`. It raises `InputError`
(one line naming the file) when the input as a whole cannot be used, and nothing else: a
result file that cannot be read becomes a `Problem` of its movie.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, MotionconsError
from ..trajectory import TrajectorySet
from . import cistem, cryosparc, imod, motioncor, relion, scipion, table, warp, xmipp
from .common import one_line, validate

READERS = (relion, motioncor, scipion, cryosparc, warp, xmipp, imod, cistem, table)
_EXPECTED = ("a RELION MotionCorr job directory, corrected_micrographs.star, a directory of "
             "per-movie STAR files, MotionCor2/3 output, a Scipion SetOfMovies .sqlite, "
             "cryoSPARC .cs exposures, Warp .xml, Xmipp _shifts.xmd, IMOD .xf, Unblur/cisTEM "
             "shift files, or a CSV/TSV table with columns movie,frame,x,y")


def _detects(reader, path: Path) -> bool:
    try:
        return bool(reader.detect(path))
    except (OSError, ValueError, RecursionError):
        return False


def detect(path: Path) -> str | None:
    for reader in READERS:
        if _detects(reader, path):
            return reader.NAME
    return None


def read_input(path: str | Path, pixel_size: float | None = None, *,
               cryosparc_project_dir: str | Path | None = None,
               workers: int | None = None, keep_table: bool = True,
               names_from: TrajectorySet | None = None) -> TrajectorySet:
    """Read one motion-correction result (file or directory) into a TrajectorySet.

    `pixel_size` is used where the input records none, `cryosparc_project_dir` is the directory
    cryoSPARC paths are relative to, `workers` the reading processes (default: the cores, ≤ 8).
    Without `keep_table`, a RELION micrographs table is not kept (a secondary input's is never
    subset: 25 MB at 50,000 movies). With `names_from`, another input of the same movies, keys
    and movie names equal to its own are held as its strings (`SharedNames`: one copy of each
    is kept), by the reader as it reads where that keeps the peak lower (RELION files in bulk,
    `TrajectorySet.names_shared`), else once read.
    """
    p = Path(path)
    try:
        exists, is_dir = p.exists(), p.is_dir()
    except OSError as exc:
        raise InputError(p, f"cannot be accessed: {exc.strerror or exc}") from exc
    if not exists:
        raise InputError(p, "no such file or directory")
    reader = next((r for r in READERS if _detects(r, p)), None)
    if reader is not None:
        return _read_with(reader, p, pixel_size, cryosparc_project_dir, workers, keep_table,
                          names_from)
    if is_dir:
        found = _one_level_down(p)
        if found:
            datasets = [_read_with(r, sub, pixel_size, cryosparc_project_dir, workers,
                                   keep_table, names_from) for r, sub in found]
            return _merged(p, datasets)
    raise InputError(p, _what_it_is(p) or
                     f"not a recognised motion-correction result (expected {_EXPECTED})")


_LOOKALIKES = (
    (b"<\x00T\x00i\x00l\x00t\x00S\x00e\x00r\x00i\x00e\x00s", "a Warp tilt-series XML"),
    (b"<TiltSeries", "a Warp tilt-series XML"),
    (b"XMIPP_STAR", "an Xmipp metadata file without a frameShifts block"),
)


def _what_it_is(path: Path) -> str | None:
    """A one-line hint for a file that looks like a program's output but holds no trajectory
    (a Warp tilt series, other Xmipp metadata)."""
    files = sorted(path.iterdir())[:50] if path.is_dir() else [path]
    for file in files:
        try:
            with open(file, "rb") as handle:
                head = handle.read(4096)
        except OSError:
            continue
        for marker, what in _LOOKALIKES:
            if marker in head:
                where = f" ({file.name})" if path.is_dir() else ""
                return (f"{what}{where}, not a movie's motion: give the per-movie results of the "
                        "motion correction (Warp frame-series <Movie> XML, Xmipp *_shifts.xmd)")
    return None


def _read_with(reader, path: Path, pixel_size: float | None,
               cryosparc_project_dir: str | Path | None, workers: int | None,
               keep_table: bool = True, names_from: TrajectorySet | None = None
               ) -> TrajectorySet:
    try:
        with np.errstate(all="ignore"):  # garbage values become problems, not warnings
            if reader is cryosparc:
                dataset = cryosparc.read(path, pixel_size=pixel_size,
                                         project_dir=cryosparc_project_dir)
            elif reader is relion:
                dataset = relion.read(path, pixel_size=pixel_size, workers=workers,
                                      keep_table=keep_table, names_from=names_from)
            else:
                dataset = reader.read(path, pixel_size=pixel_size)
    except MotionconsError:
        raise
    except Exception as exc:  # whatever a reader hits, the user gets one line
        raise InputError(path, f"cannot be read as {reader.NAME} output "
                               f"({type(exc).__name__}: {one_line(exc)})") from exc
    if names_from is not None and not dataset.names_shared:
        dataset.share_names(names_from)
    return validate(dataset)


def _one_level_down(path: Path) -> list[tuple[Any, Path]]:
    """Result folders one level below a job or output folder (``jobNNN/Movies/*.out``, logs a
    wrapper keeps in a sub-folder), all of one format."""
    try:
        subfolders = sorted(d for d in path.iterdir() if d.is_dir() and not d.is_symlink())
    except OSError:
        return []
    found = [(reader, sub) for sub in subfolders
             if (reader := next((r for r in READERS if _detects(r, sub)), None)) is not None]
    formats = {reader.NAME for reader, _ in found}
    if len(formats) > 1:
        raise InputError(path, "holds results of several programs in its sub-folders ("
                               + ", ".join(f"{sub.name}: {r.NAME}" for r, sub in found)
                               + "); give one of them")
    return found


def _merged(path: Path, datasets: list[TrajectorySet]) -> TrajectorySet:
    merged = TrajectorySet(path=str(path), format=datasets[0].format)
    for dataset in datasets:
        merged.trajectories += dataset.trajectories
        merged.problems += dataset.problems
        merged.notes += dataset.notes
        if merged.micrograph_table is None:
            merged.micrograph_table = dataset.micrograph_table
    merged.notes.append("results read from " + ", ".join(
        os.path.relpath(d.path, path) for d in datasets) + f" inside {path}")
    return merged

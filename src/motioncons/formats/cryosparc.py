"""cryoSPARC exposures: ``.cs`` files with ``rigid_motion/*`` and the ``.npy`` they point to.

The trajectory (``(1, N, 2)`` or ``(N, 2)``, x then y) is taken to be in raw-movie pixels
(``rigid_motion/psize_A`` gives their size; pyem instead divides by it: unconfirmed, and the
dataset scale check would expose a wrong guess). cryoSPARC inverts the y axis of its
micrographs, so in RELION's convention x is negated and y kept (jianglab's calibration against
RELION: correlation 0.9999). Frames are 0-based from ``rigid_motion/frame_start``. Paths are
relative to the project directory: the parent of the ``J<n>`` job directory, or
``--cryosparc-project-dir``. Files are loaded with ``allow_pickle=False``; the CSDAT container
needs cryosparc-tools.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..trajectory import Trajectory, TrajectorySet, movie_key
from . import csdat
from .common import MAX_FRAME_NUMBER, bounded_int, one_line, pixel_size_or_none, problem, unreadable

NAME = "cryosparc"
MAX_TRAJECTORY_BYTES = 64 << 20


@dataclass
class CryosparcExposures:
    """The reference exposures, kept so that outputs can subset them in the same container."""

    path: str
    records: np.ndarray
    container: str
    """``numpy`` (the classic ``.cs``) or ``csdat`` (cryoSPARC ≥ 4.4's compressed container)."""
    row_keys: list[str]
    """The movie key of each record, in order."""


def detect(path: Path) -> bool:
    if path.is_dir():
        return any(path.glob("*.cs"))
    return path.suffix == ".cs"


def load_dataset(path: Path) -> tuple[np.ndarray, str]:
    """The records of one ``.cs`` file and its container; InputError when it is not one."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from exc
    if magic == b"\x93NUMPY":
        try:
            data, container = np.load(path, allow_pickle=False), "numpy"
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(path, f"unreadable .cs file: {one_line(exc)}") from exc
    elif magic == csdat.MAGIC:
        data, container = csdat.load(path), "csdat"
    else:
        raise InputError(path, "not a cryoSPARC .cs file (wrong magic)")
    if data.ndim != 1 or not data.dtype.names:
        raise InputError(path, f"not a table of exposures (an array of shape {data.shape} and "
                               f"type {data.dtype})")
    return data, container


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def read(path: Path, pixel_size: float | None = None,
         project_dir: str | Path | None = None) -> TrajectorySet:
    files = sorted(path.glob("*.cs")) if path.is_dir() else [path]
    dataset = TrajectorySet(path=str(path), format="cryosparc exposures")
    records = []
    for file in files:
        try:
            data, container = load_dataset(file)
        except InputError as exc:
            if not path.is_dir():
                raise
            dataset.notes.append(f"skipped {exc}")
            continue
        if "rigid_motion/path" in (data.dtype.names or ()):
            records.append((file, data, container))
    if not records:
        raise InputError(path, "no exposures with rigid_motion/path (a Patch or Full-frame "
                               "Motion Correction output is needed)")
    tables = []
    for file, data, container in records:
        project = Path(project_dir) if project_dir else file.resolve().parent.parent
        names = data.dtype.names
        keys = []
        for index, row in enumerate(data):
            try:
                item = _exposure(row, names, project, file, pixel_size)
            except Exception as exc:  # any failure of one file is its movie's problem
                item = unreadable(file, exc, name=_movie_name(row, names, index))
            dataset.add(item)
            keys.append(item.key)
        tables.append(CryosparcExposures(str(file), data, container, keys))
    dataset.micrograph_table = _one_table(tables, dataset.notes)
    return dataset


def _one_table(tables: list[CryosparcExposures], notes: list[str]) -> CryosparcExposures:
    """The exposures of every ``.cs`` file as one table to subset: classic containers with the
    same fields are joined; otherwise the subsets cover the first file, and a note says so."""
    first = tables[0]
    joinable = [t for t in tables
                if t.container == "numpy" and t.records.dtype == first.records.dtype]
    if first.container == "numpy" and len(joinable) == len(tables):
        if len(tables) == 1:
            return first
        return CryosparcExposures(first.path, np.concatenate([t.records for t in tables]),
                                  "numpy", [k for t in tables for k in t.row_keys])
    notes.append(f"the .cs subsets cover {first.path} only: the other exposure files have "
                 "other fields or are compressed (CSDAT)")
    return first


def _movie_name(row, names, index: int) -> str:
    try:
        return _text(row["movie_blob/path" if "movie_blob/path" in names else "rigid_motion/path"])
    except (ValueError, TypeError, UnicodeError):
        return f"exposure {index}"


def _exposure(row, names, project: Path, file: Path, pixel_size: float | None):
    movie = _movie_name(row, names, -1)
    key = movie_key(movie)
    trajectory_path = project / _text(row["rigid_motion/path"]).lstrip(">")
    try:
        found = trajectory_path.stat()
        if not stat.S_ISREG(found.st_mode):  # a named pipe would wait for a writer
            raise ValueError("not a regular file (a device, pipe or socket)")
        if found.st_size > MAX_TRAJECTORY_BYTES:
            raise ValueError(f"larger than {MAX_TRAJECTORY_BYTES >> 20} MiB")
        values = np.load(trajectory_path, allow_pickle=False)
    except FileNotFoundError:
        return problem(key, movie, trajectory_path, "missing_metadata",
                       f"trajectory file does not exist (listed in {file}; "
                       "paths are relative to the project directory: --cryosparc-project-dir)")
    except (ValueError, OSError, EOFError) as exc:
        return problem(key, movie, trajectory_path, "unreadable",
                       f"unreadable trajectory ({one_line(exc)})")
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "fiu" or \
            values.size == 0 or values.size % 2 or values.shape[-1:] != (2,):
        return problem(key, movie, trajectory_path, "unreadable",
                       f"not a trajectory (an array of shape {values.shape} "
                       f"and type {values.dtype}; (N, 2) numbers expected)")
    values = np.asarray(values, dtype=np.float64).reshape(-1, 2)
    start = (bounded_int(row["rigid_motion/frame_start"], "frame_start", 0, MAX_FRAME_NUMBER)
             if "rigid_motion/frame_start" in names else 0)
    size = (pixel_size_or_none(row["rigid_motion/psize_A"]) if "rigid_motion/psize_A" in names
            else None)
    shifts = np.column_stack([-values[:, 0], values[:, 1]])
    # Frames (or EER fractions) in the movie, so that other groupings can be resampled.
    total = None
    try:
        if "movie_blob/shape" in names:
            total = bounded_int(np.atleast_1d(row["movie_blob/shape"])[0], "frames", 1)
        elif "rigid_motion/frame_end" in names:
            total = bounded_int(row["rigid_motion/frame_end"], "frame_end", 1)
    except (ValueError, TypeError, IndexError):
        total = None
    uid = None
    if "uid" in names:
        try:
            uid = int(row["uid"])
        except (ValueError, TypeError, OverflowError):
            uid = None
    return Trajectory(key, movie, np.arange(start + 1, start + 1 + len(values)), shifts,
                      size or pixel_size, str(trajectory_path), NAME, total, {"uid": uid})

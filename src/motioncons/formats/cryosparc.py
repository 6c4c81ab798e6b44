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

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..matching import movie_key
from ..trajectory import Problem, Trajectory, TrajectorySet

NAME = "cryosparc"
PROJECT_DIR: Path | None = None
"""Set from ``--cryosparc-project-dir``."""


def detect(path: Path) -> bool:
    if path.is_dir():
        return any(path.glob("*.cs"))
    return path.suffix == ".cs"


def load_dataset(path: Path) -> np.ndarray:
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic == b"\x93NUMPY":
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(path, f"unreadable .cs file: {exc}") from exc
    if magic == b"\x95CSDAT":
        try:
            from cryosparc.dataset import Dataset
        except ImportError as exc:
            raise InputError(path, "a compressed (CSDAT) .cs file: pip install "
                                   "cryosparc-tools to read it") from exc
        return Dataset.load(str(path)).to_records()
    raise InputError(path, "not a cryoSPARC .cs file (wrong magic)")


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read(path: Path, pixel_size: float | None = None) -> TrajectorySet:
    files = sorted(path.glob("*.cs")) if path.is_dir() else [path]
    dataset = TrajectorySet(path=str(path), format="cryosparc exposures")
    records = []
    for file in files:
        data = load_dataset(file)
        if data.dtype.names and "rigid_motion/path" in data.dtype.names:
            records.append((file, data))
    if not records:
        raise InputError(path, "no exposures with rigid_motion/path (a Patch or Full-frame "
                               "Motion Correction output is needed)")
    for file, data in records:
        project = PROJECT_DIR or file.resolve().parent.parent
        for row in data:
            item = _exposure(row, data.dtype.names, project, file, pixel_size)
            dataset.add(item)
    dataset.micrograph_table = records[0]
    return dataset


def _exposure(row, names, project: Path, file: Path, pixel_size: float | None):
    movie = _text(row["movie_blob/path"]) if "movie_blob/path" in names else _text(
        row["rigid_motion/path"])
    key = movie_key(movie)
    trajectory_path = project / _text(row["rigid_motion/path"]).lstrip(">")
    try:
        values = np.load(trajectory_path, allow_pickle=False)
    except FileNotFoundError:
        return Problem(key, movie, str(trajectory_path), "missing_metadata",
                       f"{trajectory_path}: trajectory file does not exist (listed in {file}; "
                       "paths are relative to the project directory: --cryosparc-project-dir)")
    except (ValueError, OSError) as exc:
        return Problem(key, movie, str(trajectory_path), "unreadable",
                       f"{trajectory_path}: unreadable trajectory ({exc})")
    values = np.asarray(values, dtype=np.float64).reshape(-1, 2)
    if not np.isfinite(values).all():
        return Problem(key, movie, str(trajectory_path), "nan_shifts",
                       f"{trajectory_path}: NaN or infinite shifts")
    start = int(row["rigid_motion/frame_start"]) if "rigid_motion/frame_start" in names else 0
    size = float(row["rigid_motion/psize_A"]) if "rigid_motion/psize_A" in names else pixel_size
    shifts = np.column_stack([-values[:, 0], values[:, 1]])
    # Frames (or EER fractions) in the movie, so that other groupings can be resampled.
    if "movie_blob/shape" in names:
        total = int(np.atleast_1d(row["movie_blob/shape"])[0])
    elif "rigid_motion/frame_end" in names:
        total = int(row["rigid_motion/frame_end"])
    else:
        total = None
    return Trajectory(key, movie, np.arange(start + 1, start + 1 + len(values)), shifts,
                      size or pixel_size, str(trajectory_path), NAME, total,
                      {"uid": int(row["uid"]) if "uid" in names else None})

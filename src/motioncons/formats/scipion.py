"""Scipion ``SetOfMovies`` sqlite with ``MovieAlignment`` (read with ``sqlite3`` alone).

Layout (``shared/reference/formats_cryosparc_warp_xmipp_scipion.md`` §4): ``Classes`` maps
attribute paths to ``cNN`` columns of ``Objects`` (one row per movie); ``Properties`` holds the
set's own values (``_streamState``: 1 open, 2 closed; ``_samplingRate``). Shifts are
``_alignment._xshifts`` / ``_yshifts`` as comma-separated lists in unbinned pixels, for frames
``_alignment._first`` .. ``_last`` (1-based); their sign and zero are whatever the producing
protocol stored (RELION's for the MotionCor2 and Xmipp plugins).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..matching import movie_key
from ..trajectory import Problem, Trajectory, TrajectorySet

NAME = "scipion"
_WANTED = ("_filename", "_micName", "_samplingRate", "_alignment._first", "_alignment._last",
           "_alignment._xshifts", "_alignment._yshifts")


@dataclass
class ScipionSet:
    """What the outputs need to list a Scipion reference by the ids Scipion uses."""

    path: str
    ids: dict[str, int]
    names: dict[str, str]


def detect(path: Path) -> bool:
    if not (path.is_file() and path.suffix == ".sqlite"):
        return False
    with open(path, "rb") as handle:
        return handle.read(16) == b"SQLite format 3\x00"


def _connect(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        db.execute("SELECT 1 FROM Classes LIMIT 1")
        return db
    except sqlite3.DatabaseError as exc:
        raise InputError(path, f"not a Scipion set database ({exc})") from exc


def properties(path: Path) -> dict[str, str]:
    db = _connect(path)
    try:
        return {k: v for k, v in db.execute("SELECT key, value FROM Properties")}
    finally:
        db.close()


def stream_closed(path: Path) -> bool:
    return properties(path).get("_streamState") == "2"


def read(path: Path, pixel_size: float | None = None) -> TrajectorySet:
    db = _connect(path)
    try:
        props = {k: v for k, v in db.execute("SELECT key, value FROM Properties")}
        columns = {label: column for column, label in
                   db.execute("SELECT column_name, label_property FROM Classes")}
        if props.get("self") not in ("SetOfMovies", None):
            raise InputError(path, f"a Scipion {props.get('self')}, not a SetOfMovies")
        if "_alignment._xshifts" not in columns:
            raise InputError(path, "this SetOfMovies has no movie alignment "
                                   "(_alignment._xshifts): give the output of a movie alignment "
                                   "protocol")
        selected = ", ".join(columns.get(label, "NULL") for label in _WANTED)
        rows = db.execute(f"SELECT id, {selected} FROM Objects ORDER BY id").fetchall()
    except sqlite3.DatabaseError as exc:
        raise InputError(path, f"cannot read the Scipion set: {exc}") from exc
    finally:
        db.close()
    if not rows:
        raise InputError(path, "the Scipion set is empty")
    default = _float(props.get("_samplingRate")) or pixel_size
    dataset = TrajectorySet(path=str(path), format="scipion SetOfMovies")
    ids, names = {}, {}
    for object_id, filename, mic_name, sampling, first, last, xs, ys in rows:
        name = filename or mic_name or f"movie_{object_id}"
        item = _movie(path, object_id, name, first, last, xs, ys,
                      _float(sampling) or default)
        dataset.add(item)
        ids[item.key] = object_id
        names[item.key] = name
    dataset.micrograph_table = ScipionSet(str(path), ids, names)
    if props.get("_streamState") == "1":
        dataset.notes.append(f"{path}: the Scipion set is still open (streaming)")
    return dataset


def _movie(path: Path, object_id: int, name: str, first, last, xs, ys,
           pixel_size: float | None) -> Trajectory | Problem:
    key = movie_key(name)
    source = f"{path}#{object_id}"
    if not xs or not ys:
        return Problem(key, name, source, "unreadable",
                       f"{path}: movie {object_id} ({name}) has no alignment shifts")
    try:
        x = np.array(str(xs).split(","), dtype=np.float64)
        y = np.array(str(ys).split(","), dtype=np.float64)
    except ValueError:
        return Problem(key, name, source, "unreadable",
                       f"{path}: movie {object_id} ({name}): non-numeric shifts")
    if x.size != y.size:
        return Problem(key, name, source, "unreadable",
                       f"{path}: movie {object_id} ({name}): {x.size} x but {y.size} y shifts")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return Problem(key, name, source, "nan_shifts",
                       f"{path}: movie {object_id} ({name}): NaN or infinite shifts")
    start = int(first) if first not in (None, -1, "") and int(first) > 0 else 1
    frames = np.arange(start, start + x.size, dtype=np.int64)
    return Trajectory(key, name, frames, np.column_stack([x, y]), pixel_size, source, NAME,
                      None, {"scipion_id": object_id})


def _float(value: object) -> float | None:
    try:
        return float(value) if value not in (None, "", "None") else None
    except (TypeError, ValueError):
        return None

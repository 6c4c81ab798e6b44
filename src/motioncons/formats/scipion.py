"""Scipion ``SetOfMovies`` sqlite with ``MovieAlignment`` (read with ``sqlite3`` alone).

Layout (``shared/reference/formats_cryosparc_warp_xmipp_scipion.md`` §4): ``Classes`` maps
attribute paths to ``cNN`` columns of ``Objects`` (one row per movie); ``Properties`` holds the
set's own values (``_streamState``: 1 open, 2 closed; ``_samplingRate``). Shifts are
``_alignment._xshifts`` / ``_yshifts`` as comma-separated lists in unbinned pixels, for frames
``_alignment._first`` .. ``_last`` (1-based); their sign and zero are whatever the producing
protocol stored (RELION's for the MotionCor2 and Xmipp plugins).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..trajectory import Problem, Trajectory, TrajectorySet, movie_key
from .common import MAX_FRAME_NUMBER, bounded_int, unreadable

NAME = "scipion"
# pyworkflow's SqliteFlatMapper names the columns of Objects c01, c02, ...: a column name read
# from a file is only put into SQL when it has that form (a crafted file is not code to run).
_COLUMN = re.compile(r"^c[0-9]{1,5}$")
_WANTED = ("_filename", "_micName", "_samplingRate", "_alignment._first", "_alignment._last",
           "_alignment._xshifts", "_alignment._yshifts")


@dataclass
class ScipionSet:
    """What the outputs need to list a Scipion reference by the ids Scipion uses."""

    path: str
    ids: list[int]
    names: list[str]
    row_keys: list[str]
    """The movie key of each object, in id order."""


def detect(path: Path) -> bool:
    if not (path.is_file() and path.suffix == ".sqlite"):
        return False
    with open(path, "rb") as handle:
        header = handle.read(16)
    return header in (b"SQLite format 3\x00", b"")  # empty: how pyworkflow writes an empty set


def _connect(path: Path) -> sqlite3.Connection:
    with contextlib.suppress(OSError):
        if Path(path).stat().st_size == 0:  # how pyworkflow writes a set with no item
            raise InputError(path, "the Scipion set is empty")
    try:
        db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
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
        selected = ", ".join(_column(columns.get(label), path) for label in _WANTED)
        rows = db.execute(f"SELECT id, {selected} FROM Objects ORDER BY id").fetchall()
    except sqlite3.DatabaseError as exc:
        raise InputError(path, f"cannot read the Scipion set: {exc}") from exc
    finally:
        db.close()
    if not rows:
        raise InputError(path, "the Scipion set is empty")
    default = _float(props.get("_samplingRate")) or pixel_size
    dataset = TrajectorySet(path=str(path), format="scipion SetOfMovies")
    ids: list[int] = []
    names: list[str] = []
    keys: list[str] = []
    for object_id, filename, mic_name, sampling, first, last, xs, ys in rows:
        name = next((str(v) for v in (filename, mic_name) if isinstance(v, str) and v),
                    f"movie_{object_id}")
        try:
            item = _movie(path, object_id, name, first, last, xs, ys,
                          _float(sampling) or default)
        except Exception as exc:  # any failure of one file is its movie's problem
            item = unreadable(f"{path}#{object_id}", exc, name=name)
        dataset.add(item)
        ids.append(object_id)
        names.append(name)
        keys.append(item.key)
    dataset.micrograph_table = ScipionSet(str(path), ids, names, keys)
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
    start = 1 if first in (None, "", -1, 0) else bounded_int(first, "_alignment._first", 1,
                                                              MAX_FRAME_NUMBER)
    frames = np.arange(start, start + x.size, dtype=np.int64)
    return Trajectory(key, name, frames, np.column_stack([x, y]), pixel_size, source, NAME,
                      None, {"scipion_id": object_id})


def _column(name: str | None, path: Path) -> str:
    if name is None:
        return "NULL"
    if not _COLUMN.match(str(name)):
        raise InputError(path, f"not a Scipion set: column name {str(name)[:40]!r} in Classes")
    return f'"{name}"'


def _float(value: object) -> float | None:
    try:
        return float(value) if value not in (None, "", "None") else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None

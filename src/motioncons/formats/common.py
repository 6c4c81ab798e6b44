"""What the readers share: per-file reading that never raises, and one validity check.

Every number a file gives is bounded before it sizes anything, and every trajectory a reader
returns passes `problem_of` (finite, plausible, strictly increasing frames) or becomes a
`Problem` naming the file: no exception other than `InputError` escapes a reader.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..trajectory import Problem, Trajectory, TrajectorySet

MAX_FRAMES = 100_000
"""Frames (or EER fractions) a movie may have; a larger count read from a file is corrupt."""
MAX_FRAME_NUMBER = 1_000_000
MAX_SHIFT_PX = 100_000.0
"""No detector is this large: a shift beyond it is a corrupt value, not motion."""
MAX_PIXEL_SIZE = 1000.0


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:300]
    return text or type(exc).__name__


def bounded_int(value: object, what: str, low: int = 0, high: int = MAX_FRAMES) -> int:
    """An integer read from a file, refused (ValueError naming it) outside [low, high]."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not math.isfinite(number) or number != int(number) or not low <= number <= high:
        raise ValueError(f"{what} {value!r} is not an integer in [{low}, {high}]")
    return int(number)


def pixel_size_or_none(value: object) -> float | None:
    """A pixel size from a file, or None when it is missing, text, NaN or absurd."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and 0 < number <= MAX_PIXEL_SIZE else None


def problem(key: str, name: str, source: Path | str, reason: str, text: str) -> Problem:
    """A movie's problem; its message names the file: ``<source>: <text>``."""
    return Problem(key, name, str(source), reason, f"{source}: {text}")


def unreadable(path: Path | str, exc: BaseException, key: str | None = None,
               name: str | None = None) -> Problem:
    """The problem for a result file a reader could not make sense of."""
    name = name or str(path).rsplit("/", 1)[-1]
    from ..trajectory import movie_key

    return problem(key or movie_key(name), name, path, "unreadable",
                   f"cannot be read ({one_line(exc)})")


MAX_RESULT_BYTES = 256 << 20
"""The largest per-movie result file of a folder read (Xmipp, IMOD, Warp and cisTEM write
kilobytes): a larger one is its movie's problem, not a run that runs out of memory."""


def guarded(read_file: Callable[[Path], Trajectory | Problem],
            file: Path) -> Trajectory | Problem:
    """`read_file(file)`, with any failure turned into an ``unreadable`` problem. A file that is
    not a regular file (a named pipe would wait for a writer, a device may never end), or is
    larger than `MAX_RESULT_BYTES`, is not read."""
    try:
        try:
            found: os.stat_result | None = os.stat(file)
        except OSError:  # the reader reports it
            found = None
        if found is not None and not stat.S_ISREG(found.st_mode):
            raise ValueError("not a regular file (a device, pipe or socket)")
        if found is not None and found.st_size > MAX_RESULT_BYTES:
            raise ValueError(f"larger than {MAX_RESULT_BYTES >> 20} MiB: not a per-movie "
                             "result file")
        return read_file(file)
    except Exception as exc:  # any failure of one file is its movie's problem
        return unreadable(file, exc)


def problem_of(item: Trajectory) -> Problem | None:
    """Why a trajectory cannot be compared, or None when it is sound."""

    def problem(reason: str, text: str) -> Problem:
        return Problem(item.key, item.movie_name, item.source, reason, f"{item.source}: {text}")

    frames, shifts = np.asarray(item.frames), np.asarray(item.shifts)
    if frames.ndim != 1 or shifts.shape != (frames.size, 2):
        return problem("unreadable", f"{frames.size} frame numbers but shifts of shape "
                                     f"{shifts.shape}")
    if frames.size == 0:
        return problem("too_few_frames", "no aligned frame")
    if not np.isfinite(shifts).all():
        return problem("nan_shifts", "NaN or infinite shift values")
    if np.abs(shifts).max() > MAX_SHIFT_PX:
        return problem("nan_shifts", f"implausible shift values (beyond ±{MAX_SHIFT_PX:g} px)")
    if not (frames.min() >= 1 and frames.max() <= MAX_FRAME_NUMBER):
        return problem("unreadable", f"frame numbers outside 1..{MAX_FRAME_NUMBER}")
    if frames.size > 1 and np.diff(frames).min() <= 0:
        return problem("unreadable", "frame numbers are not strictly increasing "
                                     "(duplicated or out of order)")
    return None


def _tidy(item: Trajectory) -> None:
    """An unusable pixel size or frame count read from a file becomes unknown (None)."""
    if item.pixel_size is not None:
        item.pixel_size = pixel_size_or_none(item.pixel_size)
    if item.total_frames is not None and not 0 < item.total_frames <= MAX_FRAMES:
        item.total_frames = None


def checked(item: Trajectory | Problem) -> Trajectory | Problem:
    """`item`, or the problem that makes it unusable (see `_tidy` for what is fixed)."""
    if isinstance(item, Problem):
        return item
    _tidy(item)
    return problem_of(item) or item


SCREEN_CHUNK = 8192


def _screen(items: list[Trajectory]) -> np.ndarray:
    """Which trajectories (of consistent shapes, at least one frame) may be unusable."""
    lengths = np.array([t.frames.size for t in items], dtype=np.int64)
    frames = np.concatenate([t.frames for t in items])
    shifts = np.concatenate([t.shifts for t in items])
    starts = np.cumsum(lengths) - lengths
    bad_value = ~(np.abs(shifts) <= MAX_SHIFT_PX).all(axis=1)  # NaN compares False
    bad_value |= (frames < 1) | (frames > MAX_FRAME_NUMBER)
    step_bad = np.zeros(frames.size, dtype=bool)
    step_bad[1:] = frames[1:] <= frames[:-1]
    step_bad[starts] = False  # the first frame of a movie follows another movie's last
    bad_value |= step_bad
    return np.add.reduceat(bad_value.astype(np.int64), starts) > 0


def validate(dataset: TrajectorySet) -> TrajectorySet:
    """Move every unusable trajectory of `dataset` to its problems.

    A vectorised screen over all trajectories at once finds the suspects, so that a dataset of
    100,000 sound movies costs a few array operations; each suspect is then checked one by one.
    A dataset its reader already validated (`TrajectorySet.validated`) is returned as it is.
    """
    items = dataset.trajectories
    if not items or dataset.validated:
        return dataset
    suspects = set()
    for i, t in enumerate(items):
        _tidy(t)
        if t.frames.ndim != 1 or t.shifts.shape != (t.frames.size, 2) or t.frames.size == 0:
            suspects.add(i)
    regular = [i for i in range(len(items)) if i not in suspects]
    for start in range(0, len(regular), SCREEN_CHUNK):  # bounded memory: a chunk at a time
        chunk = regular[start: start + SCREEN_CHUNK]
        suspects.update(np.asarray(chunk)[_screen([items[i] for i in chunk])].tolist())
    if suspects:
        sound: list[Trajectory] = []
        for i, t in enumerate(items):
            found = problem_of(t) if i in suspects else None
            if found is None:
                sound.append(t)
            else:
                dataset.problems.append(found)
        dataset.trajectories = sound
    return dataset


def in_pixels(trajectory: Trajectory, partner_pixel_size: float | None) -> Trajectory:
    """A trajectory of a format that records shifts in Å but no pixel size (cisTEM, WarpTools
    JSON) in pixels, with the pixel size of the paired movie of the other input; the
    trajectory as it is when it needs none or no pixel size is known."""
    if not trajectory.extras.get("needs_pixel_size") or not partner_pixel_size:
        return trajectory
    extras = {**trajectory.extras, "needs_pixel_size": False, "pixel_size_from": "paired movie"}
    return replace(trajectory,
                   shifts=np.asarray(trajectory.extras["angstrom"]) / partner_pixel_size,
                   pixel_size=partner_pixel_size, extras=extras)


def read_files(path: Path, files: list[Path], format_name: str,
               read_file: Callable[[Path], Trajectory | Problem], missing: str) -> TrajectorySet:
    """One trajectory (or problem) per file; `missing` is the error when there is no file."""
    if not files:
        raise InputError(path, missing)
    dataset = TrajectorySet(path=str(path), format=format_name)
    for file in files:
        dataset.add(guarded(read_file, file))
    return dataset

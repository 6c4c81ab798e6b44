"""One RELION per-movie motion STAR file (``MotionCorr/jobNNN/Movies/<stem>.star``), parsed in
full with gemmi: every layout RELION 3.0 to 5.0 and MotionCor3's ``-OutStar`` write, and every
damaged file, which becomes its movie's `Problem`.

``data_general`` and ``data_global_shift`` (``_rlnMicrographFrameNumber``,
``_rlnMicrographShiftX/Y``), one row per movie frame, unobserved frames written as -9999. Shifts
are already in the canonical convention (unbinned movie pixels, applied-shift sign, 1-based
frames): see ``shared/reference/formats_relion_motioncor.md`` §1.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from pathlib import Path
from typing import Any

import gemmi
import numpy as np

from ..trajectory import Problem, Trajectory, movie_key
from .common import (
    MAX_FRAME_NUMBER,
    bounded_int,
    one_line,
    pixel_size_or_none,
    problem,
    unreadable,
)
from .star import parse_cif, unescape

NAME = "relion"
NOT_OBSERVED = -9999.0
SHIFT_TAGS = ["_rlnMicrographFrameNumber", "_rlnMicrographShiftX", "_rlnMicrographShiftY"]


def read_movie_star(path: Path | str, fallback_name: str | None = None,
                    raw: bytes | None = None) -> Trajectory | Problem:
    """Read one per-movie metadata STAR (`raw`: its bytes, when already read, at least up to
    the block after ``data_global_shift``). Never raises: bad content gives a Problem."""
    try:
        return _read_movie_star(path, fallback_name, raw)
    except Exception as exc:  # any failure of one file is its movie's problem
        return unreadable(path, exc, name=fallback_name)


MAX_MOVIE_STAR_BYTES = 256 << 20
"""The largest per-movie motion STAR file read (RELION's are kilobytes to a few megabytes, their
global shifts first): a larger one listed in a STAR file is its movie's problem, not a run
that runs out of memory."""


def too_large(path: str, limit: int = MAX_MOVIE_STAR_BYTES) -> OSError:
    return OSError(errno.EFBIG, f"larger than {limit >> 20} MiB: not a per-movie motion STAR",
                   path)


def open_movie_star(path: str, limit: int = MAX_MOVIE_STAR_BYTES) -> int:
    """A descriptor of the file, open for reading; an OSError unless it is a regular file (a
    path in a STAR file may name /dev/zero, which never ends, or a named pipe, which waits for
    a writer: opened without blocking, neither is read) of at most `limit` bytes."""
    handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        found = os.fstat(handle)
        if stat.S_ISDIR(found.st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        if not stat.S_ISREG(found.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a device, pipe or socket)", path)
        if found.st_size > limit:
            raise too_large(path, limit)
    except BaseException:
        os.close(handle)
        raise
    return handle


def _regular_file_bytes(path: str) -> bytes:
    """The file's bytes, as `open_movie_star` allows them."""
    with open(open_movie_star(path), "rb", buffering=0) as stream:
        raw = stream.read(MAX_MOVIE_STAR_BYTES + 1)  # it may have grown since
    if len(raw) > MAX_MOVIE_STAR_BYTES:
        raise too_large(path)
    return raw


def _read_movie_star(path: Path | str, fallback_name: str | None,
                     raw: bytes | None) -> Trajectory | Problem:
    source = path if isinstance(path, str) else str(path)

    def fail(reason: str, text: str, name: str | None = None) -> Problem:
        name = name or fallback_name or source.rsplit("/", 1)[-1]
        return problem(movie_key(name), name, source, reason, text)

    if raw is None:
        try:
            raw = _regular_file_bytes(source)
        except FileNotFoundError:
            return fail("missing_metadata", "metadata STAR file does not exist")
        except OSError as exc:
            return fail("unreadable", f"cannot read: {exc.strerror or exc}")
    if not raw.strip():
        return fail("unreadable", "empty file")
    start = raw.find(b"data_global_shift")
    if start < 0:
        return fail("unreadable", "no data_global_shift block (truncated, or not a RELION "
                                     "per-movie motion STAR)")
    # The blocks after the global shifts (local model, hot pixels, local shifts) can be 100x
    # larger and are not needed: parse only what precedes the next block.
    end = raw.find(b"\ndata_", start)
    try:
        text = (raw if end < 0 else raw[: end + 1]).decode("utf-8")
        doc, _escaped = parse_cif(_motioncor3_star(text))
    except (UnicodeDecodeError, ValueError, RuntimeError) as exc:
        return fail("unreadable", f"malformed STAR: {one_line(exc)}")
    general = doc.find_block("general")
    movie_name = general.find_value("_rlnMicrographMovieName") if general else None
    name = unescape(gemmi.cif.as_string(movie_name)) if movie_name else (
        fallback_name or source.rsplit("/", 1)[-1])
    shifts_block = doc.find_block("global_shift")
    loop = shifts_block.find_loop("_rlnMicrographShiftX").get_loop() if shifts_block else None
    tags = loop.tags if loop is not None else []
    if loop is None or loop.length() == 0 or not all(t in tags for t in SHIFT_TAGS):
        return fail("unreadable", "data_global_shift has no frame rows "
                                     "(truncated or still being written)", name)
    width = loop.width()
    raw_values = loop.values
    n = len(raw_values) // width
    frame_col, x_col, y_col = (tags.index(t) for t in SHIFT_TAGS)
    frame_strings = raw_values[frame_col::width]
    try:
        shifts = np.array(raw_values[x_col::width] + raw_values[y_col::width],
                          dtype=np.float64).reshape(2, n).T
        # RELION always numbers 1..N; anything else is converted and checked.
        regular = frame_strings == one_to(n)
        frames = (frames_one_to(n) if regular
                  else np.array(frame_strings, dtype=np.float64))
    except ValueError as exc:
        return fail("unreadable", f"non-numeric value in data_global_shift: {one_line(exc)}",
                       name)
    total = frame_count(_find(general, "_rlnImageSizeZ"))
    if total is not None and n < total:
        return fail("unreadable", f"truncated: {n} of {int(total)} frames in "
                                     "data_global_shift", name)
    if not regular:
        if not (np.isfinite(frames).all() and frames.min() >= 1
                and frames.max() <= MAX_FRAME_NUMBER):
            return fail("unreadable", "frame numbers in data_global_shift are not in "
                                         f"1..{MAX_FRAME_NUMBER}", name)
        if n > 1 and not (np.diff(frames).min() > 0 and (frames % 1 == 0).all()):
            return fail("unreadable", "frame numbers in data_global_shift are not "
                                         "increasing integers", name)
        frames = frames.astype(np.int64)
    if not np.isfinite(shifts).all():
        return fail("nan_shifts", "NaN or infinite shift values in data_global_shift", name)
    observed = (shifts[:, 0] != NOT_OBSERVED) | (shifts[:, 1] != NOT_OBSERVED)
    extras = {key: shared(value) for label, key in EXTRAS
              if (value := _find(general, label)) is not None}
    if not observed.all():
        extras["unobserved_frames"] = int((~observed).sum())
        frames, shifts = frames[observed], shifts[observed]
    return Trajectory(
        key=movie_key(name),
        movie_name=name,
        frames=frames,
        shifts=np.ascontiguousarray(shifts),
        pixel_size=pixel_size_or_none(_find(general, "_rlnMicrographOriginalPixelSize")),
        source=source,
        program=NAME,
        total_frames=None if total is None else int(total),
        extras=extras,
    )


_VALUES: dict[str, str] = {}


def shared(value: Any) -> Any:
    """One copy of each text value (every movie's "1.000000" binning is the same string)."""
    return _VALUES.setdefault(value, value) if isinstance(value, str) else value


@functools.lru_cache(maxsize=1024)
def frames_one_to(n: int) -> np.ndarray:
    """1..n, read-only and shared by every movie of n frames (most of them): a trajectory's
    frame numbers are never changed in place."""
    frames = np.arange(1, n + 1, dtype=np.int64)
    frames.setflags(write=False)
    return frames


@functools.lru_cache(maxsize=256)
def one_to(n: int) -> list[str]:
    """["1", ..., str(n)]: comparing with it checks a frame column in one step."""
    return [str(i) for i in range(1, n + 1)]


EXTRAS = (("_rlnMicrographBinning", "binning"), ("_rlnMicrographStartFrame", "start_frame"),
           ("_rlnEERUpsampling", "eer_upsampling"), ("_rlnEERGrouping", "eer_grouping"),
           ("_rlnMotionModelVersion", "motion_model_version"))


def frame_count(value: str | None) -> int | None:
    """The frame count ``_rlnImageSizeZ`` records, or None when absent or not plausible."""
    try:
        return bounded_int(value, "frames", 1)
    except (TypeError, ValueError):
        return None


def _find(block: gemmi.cif.Block | None, tag: str) -> str | None:
    return block.find_value(tag) if block else None


def _motioncor3_star(text: str) -> str:
    """MotionCor3's ``-OutStar`` writes ``loop`` and ``rlnMicrographBinning`` without their
    underscores (reference §6.2); RELION's own files are returned unchanged."""
    if "\nloop\n" not in text and "\nrln" not in text:
        return text
    lines = ["loop_" if line.strip() == "loop" else
             "_" + line.lstrip() if line.lstrip().startswith("rln") else line
             for line in text.splitlines()]
    return "\n".join(lines) + "\n"

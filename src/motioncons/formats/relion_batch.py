"""Many RELION per-movie motion STAR files at once: the fast path of a job's ``Movies/`` folder.

Files in RELION's own layout (a ``data_general`` of bare ``tag value`` lines, then a
``data_global_shift`` loop of the three shift columns with frames numbered 1..N) are cut with
a few byte searches, and the shifts of a whole chunk of files are converted and checked in one
numpy call each. Any file that does not match that layout exactly, or whose numbers are not
plain finite observed shifts, is read again by the full parser (`read_movie_star`), so both
paths give the same result on every file.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np

from ..trajectory import Problem, Trajectory, movie_key
from ..workers import worker_pool
from .common import pixel_size_or_none
from .relion_movie import (
    EXTRAS,
    NAME,
    NOT_OBSERVED,
    frame_count,
    frames_one_to,
    read_movie_star,
    shared,
)

PARALLEL_THRESHOLD = 4000
"""Below this many per-movie files, reading in one process is faster than starting workers."""

_GENERAL = b"data_general"
_SHIFTS = b"data_global_shift"
_LOOP_HEADER = re.compile(
    rb"[ \t]*\n\s*loop_[ \t]*\n"
    rb"[ \t]*_rlnMicrographFrameNumber(?:[ \t]+#1)?[ \t]*\n"
    rb"[ \t]*_rlnMicrographShiftX(?:[ \t]+#2)?[ \t]*\n"
    rb"[ \t]*_rlnMicrographShiftY(?:[ \t]+#3)?[ \t]*\n")
_COMMENTS = re.compile(rb"(?:[ \t]*(?:#[^\n]*)?\n)*\s*")
_NUMBER_BYTES = b"0123456789.-+eE \t\n"
# A bare value: not quoted, not a tag, comment, save frame or text field, not a STAR keyword.
_VALUE = r"""(?!(?i:data_|loop_|save_|global_|stop_))[^\s_$;\[\]#'"]\S*"""
_PAIR = re.compile(r"^[ \t]*(_\S+)[ \t]+(" + _VALUE + r")[ \t]*$", re.MULTILINE)
_GENERAL_LINES = re.compile(r"(?:[ \t]*(?:#[^\n]*)?\n|[ \t]*_\S+[ \t]+" + _VALUE
                            + r"[ \t]*\n)*[ \t]*")

Job = tuple[str, str | None]
"""A per-movie STAR file to read, and the movie name to report if it records none."""


def _general_values(section: bytes) -> dict[str, str] | None:
    """``data_general``'s tag-value pairs, or None unless every line is a bare pair (or a
    comment) of ASCII text that a STAR parser would read unchanged."""
    try:
        text = section.decode("ascii")
    except UnicodeDecodeError:
        return None
    if _GENERAL_LINES.fullmatch(text) is None or "@u" in text:
        return None
    pairs = _PAIR.findall(text)
    values = dict(pairs)
    return values if len(values) == len(pairs) else None


def _cut(raw: bytes) -> tuple[dict[str, str], bytes] | None:
    """(general values, the shift rows) of a file in RELION's own layout, else None."""
    general = raw.find(_GENERAL)
    shifts = raw.find(_SHIFTS, general)
    if general < 0 or shifts < 0:
        return None
    body = general + len(_GENERAL)
    if (general and raw[general - 1] != 10) or raw[body: body + 1] not in (b"\n", b" ", b"\t") \
            or raw[shifts - 1] != 10 or not _COMMENTS.fullmatch(raw, 0, general):
        return None
    values = _general_values(raw[body: shifts])
    header = _LOOP_HEADER.match(raw, shifts + len(_SHIFTS))
    if values is None or header is None:
        return None
    end = raw.find(b"\ndata_", header.end())
    rows = raw[header.end(): len(raw) if end < 0 else end + 1]
    comment = rows.find(b"#")
    if comment >= 0:
        line_start = rows.rfind(b"\n", 0, comment) + 1
        if rows[line_start: comment].strip() or not _COMMENTS.fullmatch(rows, comment):
            return None
        rows = rows[:line_start]
    if rows.translate(None, _NUMBER_BYTES):
        return None
    return values, rows


def _one_to_bytes(n: int, cache: dict[int, list[bytes]] = {}) -> list[bytes]:  # noqa: B006
    if n not in cache:
        cache[n] = [str(i).encode() for i in range(1, n + 1)]
    return cache[n]


def _trajectory(path: str, fallback: str | None, values: dict[str, str],
                shifts: np.ndarray) -> Trajectory | None:
    """The trajectory of a file cut by `_cut`, or None when its full parse must decide (a
    truncated loop is a problem)."""
    n = len(shifts)
    total = frame_count(values.get("_rlnImageSizeZ"))
    recorded = values.get("_rlnMicrographMovieName")
    if (total is not None and n < total) or recorded in (".", "?"):
        return None
    name = recorded or fallback or path.rsplit("/", 1)[-1]
    return Trajectory(movie_key(name), name, frames_one_to(n), shifts,
                      pixel_size_or_none(values.get("_rlnMicrographOriginalPixelSize")), path,
                      NAME, total, _extras(tuple(values.get(label) for label, _ in EXTRAS)))


_SHARED_EXTRAS: dict[tuple, dict[str, Any]] = {}
_EXTRA_KEYS = {key for _, key in EXTRAS}


def _extras(found: tuple) -> dict[str, Any]:
    """The extras of `found` (a value or None per `EXTRAS` label): one dict for every movie
    that records the same facts (a session's movies all do)."""
    extras = _SHARED_EXTRAS.get(found)
    if extras is None:
        extras = {key: shared(value) for (_, key), value in zip(EXTRAS, found, strict=True)
                  if value is not None}
        if len(_SHARED_EXTRAS) < 4096:
            _SHARED_EXTRAS[found] = extras
    return extras


def read_chunk(jobs: list[Job]) -> list[Trajectory | Problem]:
    """Read per-movie STAR files: RELION's own layout in bulk, anything else in full."""
    out: list[Trajectory | Problem | None] = [None] * len(jobs)
    cut: list[tuple[int, dict[str, str], int]] = []
    xs: list[bytes] = []
    ys: list[bytes] = []
    for i, (path, _) in enumerate(jobs):
        try:
            with open(path, "rb", buffering=0) as handle:
                raw = handle.readall()
        except OSError:
            continue
        found = _cut(raw)
        if found is None:
            continue
        words = found[1].split()
        n = len(words) // 3
        if n == 0 or len(words) != 3 * n or words[0::3] != _one_to_bytes(n):
            continue
        cut.append((i, found[0], n))
        xs += words[1::3]
        ys += words[2::3]
    if cut:
        try:
            shifts = np.array(xs + ys, dtype=np.float64).reshape(2, -1).T.copy()
        except ValueError:  # a malformed number somewhere: every file is read in full
            cut = []
    if cut:
        plain = np.isfinite(shifts).all(axis=1) & (
            (shifts[:, 0] != NOT_OBSERVED) | (shifts[:, 1] != NOT_OBSERVED))
        lengths = np.array([n for _, _, n in cut])
        ends = np.cumsum(lengths)
        clean = np.logical_and.reduceat(plain, ends - lengths)
        start = 0
        for (i, values, _), end, ok in zip(cut, ends.tolist(), clean.tolist(), strict=True):
            if ok:
                path, fallback = jobs[i]
                out[i] = _trajectory(path, fallback, values, shifts[start:end])
            start = end
    return [item if item is not None else read_movie_star(*job)
            for item, job in zip(out, jobs, strict=True)]


def _read_chunk_packed(jobs: list[Job]) -> tuple:
    """Like `read_chunk`, packed so that it crosses the process boundary cheaply."""
    items = read_chunk(jobs)
    trajectories = [t for t in items if isinstance(t, Trajectory)]
    distinct: dict[int, int] = {}  # the extras are mostly shared: each sent once
    tables: list[dict[str, Any]] = []
    slots: list[tuple | Problem] = []
    for t in items:
        if isinstance(t, Trajectory):
            index = distinct.setdefault(id(t.extras), len(distinct))
            if index == len(tables):
                tables.append(t.extras)
            slots.append((t.key, t.movie_name, t.pixel_size, t.total_frames, index))
        else:
            slots.append(t)
    lengths = np.array([t.n_frames for t in trajectories], dtype=np.int64)
    # Frame numbers 1..n are not sent: the other side uses its shared copy.
    regular = np.array([t.frames is frames_one_to(t.n_frames) for t in trajectories], dtype=bool)
    irregular = [t.frames for t, one_to in zip(trajectories, regular, strict=True) if not one_to]
    frames = np.concatenate(irregular) if irregular else np.zeros(0, dtype=np.int64)
    shifts = np.concatenate([t.shifts for t in trajectories]) if trajectories else np.zeros((0, 2))
    return slots, tables, lengths, regular, frames, shifts


def _unpack(jobs: list[Job], packed: tuple) -> list[Trajectory | Problem]:
    slots, tables, lengths, regular, frames, shifts = packed
    extras = [_extras(tuple(table.get(key) for _, key in EXTRAS))
              if table.keys() <= _EXTRA_KEYS else table for table in tables]
    ends = np.cumsum(lengths).tolist()
    frame_ends = np.cumsum(np.where(regular, 0, lengths)).tolist()
    counts = lengths.tolist()
    one_to = regular.tolist()
    out: list[Trajectory | Problem] = []
    k = 0
    for (path, _), slot in zip(jobs, slots, strict=True):
        if isinstance(slot, Problem):
            out.append(slot)
            continue
        key, name, pixel_size, total, index = slot
        n = counts[k]
        own = frames_one_to(n) if one_to[k] else frames[frame_ends[k] - n: frame_ends[k]]
        out.append(Trajectory(key, name, own, shifts[ends[k] - n: ends[k]], pixel_size, path,
                              NAME, total, extras[index]))
        k += 1
    return out


def read_movie_stars(jobs: list[Job], workers: int | None = None,
                     chunk_size: int = 2000) -> list[Trajectory | Problem]:
    """Read many per-movie STAR files (path, fallback name), in worker processes when many."""
    workers = min(os.cpu_count() or 1, 8) if workers is None else workers
    chunks = [jobs[i: i + chunk_size] for i in range(0, len(jobs), chunk_size)]
    if len(jobs) >= PARALLEL_THRESHOLD and workers >= 2:
        with worker_pool(workers) as pool:
            if pool is not None:
                return [item for chunk, packed in zip(
                    chunks, pool.map(_read_chunk_packed, chunks), strict=True)
                    for item in _unpack(chunk, packed)]
    return [item for chunk in chunks for item in read_chunk(chunk)]

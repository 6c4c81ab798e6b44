"""Many RELION per-movie motion STAR files at once: the fast path of a job's ``Movies/`` folder.

Files in RELION's own layout (a ``data_general`` of bare ``tag value`` lines, then a
``data_global_shift`` loop of the three shift columns with frames numbered 1..N) are cut with
a few byte searches, and the files of a session after the first by comparing their bytes with
its bytes (they differ before their rows only by the movie name). The shift rows of a whole
chunk of files are read by position where they are in RELION's fixed columns
(`fixed_columns`), else split into words and converted in one numpy call, and checked in one
numpy call. Any file that does not match that layout exactly, or whose numbers are not plain
finite observed shifts, is read again by the full parser (`read_movie_star`), so every path
gives the same result on every file.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import re
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..trajectory import (
    KEY_EXTENSIONS,
    KEY_SUFFIXES,
    CompactTrajectory,
    Problem,
    Trajectory,
    as_micro,
    movie_key,
)
from ..workers import worker_pool
from . import compiled
from .common import MAX_FRAME_NUMBER, MAX_SHIFT_PX, checked, pixel_size_or_none
from .fixed_columns import parse_rows
from .relion_movie import (
    EXTRAS,
    MAX_MOVIE_STAR_BYTES,
    NAME,
    NOT_OBSERVED,
    frame_count,
    frames_one_to,
    open_movie_star,
    read_movie_star,
    shared,
    too_large,
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

_NAME_TAG = "_rlnMicrographMovieName"
_NAME_TAG_BYTES = _NAME_TAG.encode()
_NAME_LINE = re.compile(rb"[ \t]*" + _NAME_TAG_BYTES + rb"[ \t]+(" + _VALUE.encode()
                        + rb")[ \t]*\n")


@dataclass(frozen=True, slots=True)
class _General:
    """What a ``data_general`` section says besides the movie name, worked out once for every
    file of a session (their sections differ only by that line)."""

    total: int | None
    pixel_size: float | None
    extras: dict[str, Any]
    """Shared by every movie that records the same facts: read-only."""


_TEMPLATES: dict[bytes, _General | None] = {}
"""``data_general`` sections without their movie name line, and what they say (None: not
plain tag-value pairs, the full parser decides)."""

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


def _template(section: bytes) -> _General | None:
    values = _general_values(section)
    if values is None or _NAME_TAG in values:  # None, or the name tag twice
        return None
    return _General(frame_count(values.get("_rlnImageSizeZ")),
                    pixel_size_or_none(values.get("_rlnMicrographOriginalPixelSize")),
                    _extras(tuple(values.get(label) for label, _ in EXTRAS)))


def _general(section: bytes) -> tuple[tuple[_General, str | None], int, int] | None:
    """What ``data_general`` says and the movie name, with where the name's tag ends and
    where its line ends in `section` (-1 without one), or None unless `_general_values` would
    read it."""
    tag = section.find(_NAME_TAG_BYTES)
    name = None
    template = section
    end = -1
    if tag >= 0:
        start = section.rfind(b"\n", 0, tag) + 1
        end = section.find(b"\n", tag) + 1
        line = _NAME_LINE.fullmatch(section, start, end) if end else None
        if line is None or not line.group(1).isascii() or b"@u" in line.group(1):
            return None
        name = line.group(1).decode("ascii")
        template = section[:start] + section[end:]
    if template in _TEMPLATES:
        general = _TEMPLATES[template]
    else:
        general = _template(template)
        if len(_TEMPLATES) < 256:
            _TEMPLATES[template] = general
    if general is None:
        return None
    return (general, name), tag + len(_NAME_TAG_BYTES) if tag >= 0 else -1, end


@dataclass(frozen=True, slots=True)
class _Layout:
    """A session's files up to their first shift row, but for the movie name: the bytes up to
    the end of the name's tag, and from the end of its line on. `_cut` learns them from a
    file it has cut, and then cuts a file that has them with two comparisons."""

    head: bytes
    tail: bytes
    general: _General


_LAYOUTS: dict[bytes, _Layout] = {}
"""The layouts learned, by head (a session's movies have one a frame count)."""
MAX_LAYOUTS = 256
MAX_HEAD = 4096
"""The longest head learned (RELION's is about 500 bytes)."""
_NAME_VALUE = re.compile(rb"[ \t]+(" + _VALUE.encode() + rb")[ \t]*\n")


def _cut(raw: bytes) -> tuple[tuple[_General, str | None], bytes] | None:
    """((what data_general says, movie name), the shift rows) of a file in RELION's own
    layout, else None. The rows are not checked yet."""
    tag = raw.find(_NAME_TAG_BYTES)
    layout = _LAYOUTS.get(raw[: tag + len(_NAME_TAG_BYTES)]) if tag >= 0 else None
    if layout is not None:
        known = _cut_as(layout, raw)
        if known is not None:
            return known
    general = raw.find(_GENERAL)
    shifts = raw.find(_SHIFTS, general)
    if general < 0 or shifts < 0:
        return None
    body = general + len(_GENERAL)
    if (general and raw[general - 1] != 10) or raw[body: body + 1] not in (b"\n", b" ", b"\t") \
            or raw[shifts - 1] != 10 or not _COMMENTS.fullmatch(raw, 0, general):
        return None
    found = _general(raw[body: shifts])
    header = _LOOP_HEADER.match(raw, shifts + len(_SHIFTS))
    if found is None or header is None:
        return None
    values, tag_end, line_end = found
    rows = _rows(raw, header.end())
    if rows is not None and tag_end >= 0:
        _learn(_Layout(raw[: body + tag_end], raw[body + line_end: header.end()], values[0]))
    return None if rows is None else (values, rows)


def _cut_as(layout: _Layout, raw: bytes) -> tuple[tuple[_General, str | None], bytes] | None:
    """`_cut` of a file that starts with `layout`'s head (its first name tag ending where the
    head does): the same result, or None when `_cut` must cut the file itself. Every byte that
    `_cut` looks at before the rows is the same as in the file the layout was learned from,
    but the name's, which are checked as `_general` checks them (and must not hold the block
    name `_cut` looks for next). Compiled where it was built (`compiled`): 1.8 µs a file
    against 3.5 µs."""
    if compiled.MODULE is not None:
        found = compiled.MODULE.cut_as(raw, len(layout.head), layout.tail)
        return None if found is None else ((layout.general, found[0]), found[1])
    line = _NAME_VALUE.match(raw, len(layout.head))
    if line is None or not raw.startswith(layout.tail, line.end()):
        return None
    name = line.group(1)
    if not name.isascii() or b"@u" in name or _SHIFTS in name:
        return None
    rows = _rows(raw, line.end() + len(layout.tail))
    return None if rows is None else ((layout.general, name.decode("ascii")), rows)


def _learn(layout: _Layout) -> None:
    if len(_LAYOUTS) < MAX_LAYOUTS and len(layout.head) <= MAX_HEAD:
        _LAYOUTS[layout.head] = layout


def _rows(raw: bytes, start: int) -> bytes | None:
    """The shift rows from `start` to the next block, without the comment lines and the blank
    lines that end them; None if a comment is not on lines of its own at their end."""
    end = raw.find(b"\ndata_", start)
    rows = raw[start: len(raw) if end < 0 else end + 1]
    comment = rows.find(b"#")
    if comment >= 0:
        line_start = rows.rfind(b"\n", 0, comment) + 1
        if rows[line_start: comment].strip() or not _COMMENTS.fullmatch(rows, comment):
            return None
        rows = rows[:line_start]
    return _without_blank_lines(rows)


HEAD_SIZE = 65536
"""The bytes read first from each file (`_head`)."""


def _head(path: str, size: int = HEAD_SIZE, limit: int = MAX_MOVIE_STAR_BYTES) -> bytes:
    """The file's bytes up to the end of its ``data_global_shift`` block at least: the blocks
    after it (local motion, hot pixels) can be 100x larger. ``os.read`` costs half of
    ``open().read()`` a file. An OSError where `open_movie_star` gives one."""
    handle = open_movie_star(path, limit)
    try:
        raw = os.read(handle, size)
        if len(raw) == size:
            shifts = raw.find(_SHIFTS)
            if shifts < 0 or raw.find(b"\ndata_", shifts) < 0:
                parts = [raw]
                length = len(raw)
                while part := os.read(handle, 1 << 20):
                    parts.append(part)
                    length += len(part)
                    if length > limit:  # it grew since
                        raise too_large(path, limit)
                raw = b"".join(parts)
        return raw
    finally:
        os.close(handle)


def _read_cut(jobs: list[Job]) -> list[tuple[_Layout, str, bytes] | bytes | None]:
    """Each file of `jobs` read (`_head`; None where it cannot be) and, where compiled (in one
    call: a chunk read and packed in 13-14 µs a file instead of 17-19), cut by the layouts
    learned so far: (layout, movie name, rows) as `_cut_as` cuts it. A file not so cut is
    given as its bytes (`_cut` cuts it, and may learn its layout)."""
    if compiled.MODULE is not None:
        return compiled.MODULE.read_cut([path for path, _ in jobs], _LAYOUTS, HEAD_SIZE,
                                        MAX_MOVIE_STAR_BYTES)
    return [_readable_head(path) for path, _ in jobs]


def _readable_head(path: str) -> bytes | None:
    try:
        return _head(path)
    except OSError:
        return None


def _one_to_bytes(n: int, cache: dict[int, list[bytes]] = {}) -> list[bytes]:  # noqa: B006
    if n not in cache:
        cache[n] = [str(i).encode() for i in range(1, n + 1)]
    return cache[n]


Found = tuple[str, str, float | None, int | None, dict, int, int]
"""A file read in bulk: key, movie name, pixel size, frame count, extras, and where its shifts
start and end in the chunk's array (its frames are 1..n)."""


def _found(path: str, fallback: str | None, general: tuple[_General, str | None],
           start: int, end: int) -> Found | None:
    """What a file cut by `_cut` holds, or None when its full parse must decide (a truncated
    loop is a problem)."""
    facts, recorded = general
    if (facts.total is not None and end - start < facts.total) or recorded in (".", "?"):
        return None
    name = recorded or fallback or path.rsplit("/", 1)[-1]
    return (movie_key(name), name, facts.pixel_size, facts.total, facts.extras, start, end)


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


def _scan(jobs: list[Job], entries: list | None = None
          ) -> tuple[list[Found | Trajectory | Problem], np.ndarray]:
    """Every file of a chunk: RELION's own layout in bulk (its shifts in the returned array),
    anything else read by the full parser; a trajectory that is not usable is its problem
    (`common.checked`). `entries`: what `_read_cut` gives for `jobs`, where already read."""
    out: list[Found | Trajectory | Problem | None] = [None] * len(jobs)
    heads: dict[int, bytes] = {}  # of the files not in the layout: the full parser reads them once
    cut: list[tuple[int, tuple[_General, str | None], bytes]] = []
    for i, entry in enumerate(_read_cut(jobs) if entries is None else entries):
        if entry is None:  # not readable: the full parser reports it
            continue
        if not isinstance(entry, bytes):  # cut by a layout
            layout, name, rows = entry
            cut.append((i, (layout.general, name), rows))
            continue
        found = _cut(entry)
        if found is None:
            heads[i] = entry
        else:
            cut.append((i, *found))
    try:
        spans, shifts = parse_rows([rows for _, _, rows in cut])
    except (ValueError, IndexError, OverflowError):  # a fast path's flaw must not stop a run
        spans, shifts = [None] * len(cut), np.zeros((0, 2))
    read = [(i, values, span) for (i, values, _), span in zip(cut, spans, strict=True)
            if span is not None]
    split = _split_rows([item for item, span in zip(cut, spans, strict=True) if span is None],
                        len(shifts))
    if split is not None:
        read += split[0]
        shifts = np.concatenate([shifts, split[1]])
    if read:
        read.sort(key=_start)  # in the order of their shifts
        # Observed, finite and plausible (`common.problem_of`): anything else is for the full
        # parser, and then `checked`, to report.
        plain = (np.abs(shifts) <= MAX_SHIFT_PX).all(axis=1) & (
            (shifts[:, 0] != NOT_OBSERVED) | (shifts[:, 1] != NOT_OBSERVED))
        clean = np.logical_and.reduceat(plain, [start for _, _, (start, _) in read])
        for (i, values, (start, end)), ok in zip(read, clean.tolist(), strict=True):
            if ok:
                out[i] = _found(jobs[i][0], jobs[i][1], values, start, end)
    return [item if item is not None else checked(read_movie_star(*job, heads.get(i)))
            for i, (item, job) in enumerate(zip(out, jobs, strict=True))], shifts


def _without_blank_lines(rows: bytes) -> bytes:
    """The rows up to the line break of the last one (RELION ends a loop with a line of one
    space and an empty line)."""
    last = len(rows.rstrip())
    end = rows.find(b"\n", last)
    return rows[: end + 1] if end >= 0 else rows[:last] + b"\n"


Read = tuple[int, tuple[_General, str | None], tuple[int, int]]
"""A file whose shifts are in the chunk's array: its index, what its general block says, and
where its shifts start and end."""


def _start(read: Read) -> int:
    return read[2][0]


def _split_rows(cut: list[tuple[int, tuple[_General, str | None], bytes]], position: int
                ) -> tuple[list[Read], np.ndarray] | None:
    """The rows that are not in fixed columns, split into words: numbers of any width, spaces
    and line breaks anywhere, frames still 1..n. Their shifts are placed from `position` on in
    the chunk's array; a file that is not such rows, or a malformed number among them (then all
    of them), is left to the full parser."""
    read: list[Read] = []
    xs: list[bytes] = []
    ys: list[bytes] = []
    for i, values, rows in cut:
        if rows.translate(None, _NUMBER_BYTES):
            continue
        words = rows.split()
        n = len(words) // 3
        if not 0 < n <= MAX_FRAME_NUMBER or len(words) != 3 * n \
                or words[0::3] != _one_to_bytes(n):
            continue
        read.append((i, values, (position, position + n)))
        position += n
        xs += words[1::3]
        ys += words[2::3]
    if not read:
        return None
    try:
        return read, np.array(xs + ys, dtype=np.float64).reshape(2, -1).T
    except ValueError:
        return None


def _maker(shifts: np.ndarray) -> Callable[..., Trajectory]:
    """What makes the trajectories of a chunk whose shifts are `shifts` (`_held`): they hold
    their slices of it as they are, float64 pixels or int32 millionths of a pixel."""
    return CompactTrajectory.of_micro if shifts.dtype == np.int32 else Trajectory


def _trajectory(path: str, found: Found, shifts: np.ndarray) -> Trajectory:
    """The trajectory of a file read in bulk; its shifts are `shifts[start:end]`."""
    key, name, pixel_size, total, extras, start, end = found
    return _maker(shifts)(key, name, frames_one_to(end - start), shifts[start:end], pixel_size,
                          path, NAME, total, extras)


def _held(shifts: np.ndarray) -> np.ndarray:
    """A chunk's shifts as its trajectories hold them: as int32 millionths of a pixel when
    that gives back every float exactly (RELION writes at most 6 decimals), half the memory
    of float64 at the peak of a large run; else as they are."""
    micro = as_micro(shifts)
    return shifts if micro is None else micro


def read_chunk(jobs: list[Job]) -> list[Trajectory | Problem]:
    """Read per-movie STAR files: RELION's own layout in bulk, anything else in full."""
    items, shifts = _scan(jobs)
    shifts = _held(shifts)
    return [_trajectory(path, item, shifts) if isinstance(item, tuple) else item
            for (path, _), item in zip(jobs, items, strict=True)]


_KEY_TOKENS = (tuple(e.encode() for e in KEY_EXTENSIONS), tuple(s.encode() for s in KEY_SUFFIXES))
"""`movie_key`'s trailer, as the compiled `read_packed` takes it."""


def _read_chunk_packed(jobs: list[Job]) -> tuple:
    """Like `read_chunk`, packed so that it crosses the process boundary cheaply: no
    trajectory objects, one array of shifts, each distinct extras once. Where compiled, the
    files in a learned layout are read and packed in one call (`read_packed`: 10.4 µs a
    file instead of 13.4), and only the others go through `_scan`."""
    module = compiled.MODULE
    if module is None:
        slots, tables, shifts = _packed(*_scan(jobs))
        return slots, tables, _held(shifts)
    entries, tables, parsed = module.read_packed(
        [path for path, _ in jobs], _LAYOUTS, HEAD_SIZE, MAX_MOVIE_STAR_BYTES, *_KEY_TOKENS,
        MAX_SHIFT_PX, NOT_OBSERVED)
    shifts = np.frombuffer(parsed, dtype=np.float64).reshape(-1, 2)
    rest = [i for i, entry in enumerate(entries) if type(entry) is not tuple or len(entry) != 8]
    if not rest:
        return entries, tables, _held(shifts)
    more, _, more_shifts = _packed(*_scan([jobs[i] for i in rest], [entries[i] for i in rest]),
                                   len(shifts), tables)
    for i, slot in zip(rest, more, strict=True):
        entries[i] = slot
    return entries, tables, _held(np.concatenate([shifts, more_shifts]))


def _packed(items: list[Found | Trajectory | Problem], shifts: np.ndarray, offset: int = 0,
            tables: list[dict[str, Any]] | None = None
            ) -> tuple[list[tuple | Problem], list[dict[str, Any]], np.ndarray]:
    """`_scan`'s items packed (`_read_chunk_packed`): (slots, tables, their shifts), the
    slots' positions counted from `offset` (where these shifts will start in the chunk's
    array), each distinct extras added once to `tables` (the chunk's, where some of its
    files were packed before)."""
    more = [item.shifts for item in items if isinstance(item, Trajectory)]
    position = len(shifts)
    if more:
        shifts = np.concatenate([shifts, *more])
    tables = [] if tables is None else tables
    distinct = {id(table): index for index, table in enumerate(tables)}
    slots: list[tuple | Problem] = []
    for item in items:
        if isinstance(item, Problem):
            slots.append(item)
            continue
        frames = None
        if isinstance(item, Trajectory):
            n = item.n_frames
            if item.frames is not frames_one_to(n):
                frames = item.frames
            item = (item.key, item.movie_name, item.pixel_size, item.total_frames, item.extras,
                    position, position + n)
            position += n
        *facts, extras, start, end = item
        index = distinct.setdefault(id(extras), len(distinct))
        if index == len(tables):
            tables.append(extras)
        slots.append((*facts, index, start + offset, end + offset, frames))
    return slots, tables, shifts


def _unpack(jobs: list[Job], packed: tuple) -> list[Trajectory | Problem]:
    slots, tables, shifts = packed
    extras = [_extras(tuple(table.get(key) for _, key in EXTRAS))
              if table.keys() <= _EXTRA_KEYS else table for table in tables]
    out: list[Trajectory | Problem] = []
    sizes: dict[float | None, float | None] = {}  # pickle makes a float object a movie
    make = _maker(shifts)
    for (path, _), slot in zip(jobs, slots, strict=True):
        if isinstance(slot, Problem):
            out.append(slot)
            continue
        key, name, pixel_size, total, index, start, end, frames = slot
        pixel_size = sizes.setdefault(pixel_size, pixel_size)
        out.append(make(key, name, frames_one_to(end - start) if frames is None else frames,
                        shifts[start:end], pixel_size, path, NAME, total, extras[index]))
    return out


AHEAD_PER_WORKER = 3
"""Chunks a reader submits ahead of the one it gives, per worker."""


class _Stream:
    """The chunks of one list of jobs, submitted to a pool a few ahead of the one taken."""

    def __init__(self, pool: Any, jobs: Sequence[Job | None], chunk_size: int) -> None:
        self.jobs, self.chunk_size = jobs, chunk_size
        self.starts = range(0, len(jobs), chunk_size)
        self._waiting = (pool.submit(_read_chunk_packed, _chunk(jobs, start, chunk_size))
                         for start in self.starts)
        self.ahead: collections.deque = collections.deque()
        self.submitted = 0

    def submit(self, count: int) -> None:
        """Submit up to `count` more chunks."""
        if count > 0:
            before = len(self.ahead)
            self.ahead.extend(itertools.islice(self._waiting, count))
            self.submitted += len(self.ahead) - before

    @property
    def all_submitted(self) -> bool:
        return self.submitted == len(self.starts)

    def cancel(self) -> None:
        for future in self.ahead:
            future.cancel()


class ReadingSession:
    """One pool of reader processes for every bulk read in a `shared_readers` block, started
    by the first read that needs one, and the reads queued behind the current one."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack
        self._pools: dict[int, Any] = {}
        self.queued: list[_Stream] = []
        self.upcoming: Callable[[], None] | None = None
        """Called once, when the current read has submitted its last chunk (`prefetch` what
        comes next: the workers then go on without waiting for it)."""
        self.plans: dict[Any, Any] = {}
        """What a reader prepared for a read to come (`relion.prepare`), by its own key."""

    def pool(self, workers: int) -> Any:
        if workers not in self._pools:
            self._pools[workers] = self._stack.enter_context(worker_pool(workers))
        return self._pools[workers]


_SESSIONS: list[ReadingSession] = []
"""The open `shared_readers` blocks, innermost last (one thread only)."""


@contextlib.contextmanager
def shared_readers() -> Generator[ReadingSession, None, None]:
    """Every bulk read in this block uses one pool of reader processes: a run's second input
    is read by the processes that read its first, already started and warm, and its first
    files can be read while the first input's last are taken (`ReadingSession.upcoming`)."""
    with contextlib.ExitStack() as stack:
        session = ReadingSession(stack)
        _SESSIONS.append(session)
        try:
            yield session
        finally:
            _SESSIONS.remove(session)
            for stream in session.queued:
                stream.cancel()


def current_session() -> ReadingSession | None:
    return _SESSIONS[-1] if _SESSIONS else None


def _bulk(jobs: Sequence[Job | None], workers: int | None) -> int:
    """The reader processes for `jobs`: 0 where they are read in this process."""
    workers = min(os.cpu_count() or 1, 8) if workers is None else workers
    return workers if len(jobs) >= PARALLEL_THRESHOLD and workers >= 2 else 0


def prefetch(jobs: Sequence[Job | None], workers: int | None = None,
             chunk_size: int = 2000) -> bool:
    """Start reading `jobs` in the current `shared_readers` block's pool, behind what it is
    reading: `iter_movie_stars` of the same list then takes what was read. False where they
    will not be read in bulk, or there is no block."""
    session = current_session()
    workers = _bulk(jobs, workers)
    if session is None or not workers:
        return False
    pool = session.pool(workers)
    if pool is None:
        return False
    stream = _Stream(pool, jobs, chunk_size)
    stream.submit(1)
    session.queued.append(stream)
    return True


def read_movie_stars(jobs: list[Job], workers: int | None = None,
                     chunk_size: int = 2000) -> list[Trajectory | Problem]:
    """Read many per-movie STAR files (path, fallback name), in worker processes when many.

    Every trajectory returned is usable: one that is not is returned as its problem, as
    `common.validate` would make it."""
    with contextlib.closing(iter_movie_stars(jobs, workers, chunk_size)) as items:
        return list(items)


def iter_movie_stars(jobs: Sequence[Job | None], workers: int | None = None,
                     chunk_size: int = 2000, meanwhile: Callable[[], None] | None = None
                     ) -> Generator[Trajectory | Problem, None, None]:
    """`read_movie_stars`, one item at a time in the order of `jobs`, a chunk as soon as it is
    read. The caller may set a job it has been given the item of to None, so that what only
    reading needed is freed as the run goes (close the iterator if you stop early: it holds
    the worker processes). `meanwhile` is called once before the first item is given: while
    the workers read, where there are workers."""
    starts = range(0, len(jobs), chunk_size)
    workers = _bulk(jobs, workers)
    if workers:
        with _pool(workers) as (pool, session):
            if pool is not None:
                yield from _streamed(pool, session, jobs, workers, chunk_size, meanwhile)
                return
    if meanwhile is not None:
        meanwhile()
    for start in starts:
        yield from read_chunk(_chunk(jobs, start, chunk_size))


@contextlib.contextmanager
def _pool(workers: int) -> Generator[tuple[Any, ReadingSession | None], None, None]:
    """The current `shared_readers` block's pool of `workers` processes, else one of its own."""
    session = current_session()
    if session is not None:
        yield session.pool(workers), session
        return
    with worker_pool(workers) as pool:
        yield pool, None


def _streamed(pool: Any, session: ReadingSession | None, jobs: Sequence[Job | None],
              workers: int, chunk_size: int, meanwhile: Callable[[], None] | None
              ) -> Generator[Trajectory | Problem, None, None]:
    # A few chunks ahead of the one given, not all of them: what the workers have read and
    # this process has not taken yet is held here (reading one input of 200,000 movies: a
    # peak 5-10 MB lower, as fast).
    stream = next((s for s in session.queued if s.jobs is jobs and s.chunk_size == chunk_size),
                  None) if session else None
    if stream is not None and session is not None:
        session.queued.remove(stream)
    else:
        stream = _Stream(pool, jobs, chunk_size)
    stream.submit(AHEAD_PER_WORKER * workers - len(stream.ahead))
    try:
        if meanwhile is not None:
            meanwhile()
        for start in stream.starts:
            if stream.all_submitted and session is not None:
                _behind(session)
            packed = stream.ahead.popleft().result()
            stream.submit(1)
            yield from _unpack(_chunk(jobs, start, chunk_size), packed)
    finally:
        stream.cancel()  # stopped early: a shared pool goes on


def _behind(session: ReadingSession) -> None:
    """The current read has submitted every chunk: one of the next read's instead of its
    next."""
    if session.upcoming is not None:
        upcoming, session.upcoming = session.upcoming, None
        upcoming()  # its first chunk submitted, where it prefetches
    elif session.queued:
        session.queued[0].submit(1)


def _chunk(jobs: Sequence[Job | None], start: int, size: int) -> list[Job]:
    chunk = jobs[start: start + size]
    if None in chunk:
        raise ValueError("a job of a chunk not read yet was released")
    return chunk  # type: ignore[return-value]

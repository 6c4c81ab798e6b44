"""The one data type: a movie's per-frame global shift trajectory in the canonical convention,
and the canonical movie key that pairs it across programs.

Canonical convention (DESIGN §3): shifts in pixels of the original, unbinned movie; the shift
*applied to* the frame to align it (RELION's sign); 1-based movie frame numbers; frames a program
did not align are absent (never zero-filled); no zero frame is assumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

KEY_EXTENSIONS = (
    "tiff", "tif", "mrcs", "mrc", "eer", "star", "out", "log", "xml", "npy", "xmd", "xf", "aln",
    "json", "txt", "bz2", "gz",
)
# Longest first, so that "_patch_aligned_doseweighted" wins over "_patch_aligned".
KEY_SUFFIXES = (
    "_patch_aligned_doseweighted", "_patch_aligned", "_aligned_mic_DW", "_aligned_mic",
    "-Patch-Full", "-Patch-Patch", "-Patch-Frame", "-Full", "_rigid_traj",
    "_doseweighted", "_fractions", "_Fractions", "_noDW", "_shifts", "_DWS", "_DW",
)


def _factored(words: list[str] | tuple[str, ...]) -> str:
    """A regular expression that matches exactly one of `words`, its alternatives factored by
    their common prefixes (``tiff?|mrcs?``): Python's engine tries a group's alternatives one
    by one, at every position it searches from."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def pattern(node: dict[str, dict]) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items())
                    if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return pattern(trie)


# Any run of extensions and aligner suffixes at the end of a name, e.g. "_DW.mrc" or ".tif.bz2".
# Which part of a name matches does not depend on how the alternatives are written (the
# leftmost start from which a run reaches the end): factored, a key takes half the time.
_TRAILER = re.compile(
    r"(?:\.(?i:" + _factored(KEY_EXTENSIONS) + ")|" + _factored(KEY_SUFFIXES) + ")+$")
_CRYOSPARC_UID_PREFIX = re.compile(r"^[0-9]{21}_")


def movie_key(name: str, pattern: re.Pattern[str] | None = None) -> str:
    """Reduce a recorded movie (or result file) name to the key that pairs it across programs.

    Strips directories, file extensions, aligner suffixes and cryoSPARC's 21-digit prefix, and
    replaces the dots that remain with underscores (RELION does so in its output names). With
    `pattern`, the key is its first group (or whole match) applied to the base name instead.
    """
    base = name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if pattern is not None:
        match = pattern.search(base)
        if match:
            return match.group(1) if match.groups() else match.group(0)
        return base
    if base[:21].isdigit():
        base = _CRYOSPARC_UID_PREFIX.sub("", base)
    stem = _TRAILER.sub("", base)
    return (stem or base).replace(".", "_")


@dataclass(slots=True)
class Trajectory:
    """Per-frame global shifts of one movie, as one program estimated them, in the canonical
    convention.

    Examples
    --------
    >>> t = motioncons.read("MotionCorr/job002").trajectories[0]
    >>> t.key, t.frames[:3], t.shifts[:1], t.pixel_size
    ('20170629_00021_frameImage', array([1, 2, 3]), array([[0., 0.]]), 0.885)
    """

    key: str
    """Canonical movie key used for pairing (see `movie_key`)."""
    movie_name: str
    """The movie name as the program recorded it (kept for reporting)."""
    frames: np.ndarray
    """1-based movie frame numbers, strictly increasing, int64, shape (F,)."""
    shifts: np.ndarray
    """Shifts in unbinned movie pixels, float64, shape (F, 2): columns x, y.

    A trajectory read from RELION's per-movie files in bulk may hold them more compactly
    (`CompactTrajectory`): `shifts` is then a read-only array made on each access, the same
    floats as read."""
    pixel_size: float | None
    """Å per unbinned movie pixel, when the source says."""
    source: str
    """The file this trajectory was read from."""
    program: str = ""
    """Name of the reader that produced it (e.g. ``relion``)."""
    total_frames: int | None = None
    """Number of frames (or fractions) in the movie as the program saw it, if known."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Reader-specific facts worth reporting (binning, EER grouping, start frame, ...).

    Read-only: movies that record the same facts may share one dict."""

    @property
    def n_frames(self) -> int:
        return int(self.frames.size)

    @property
    def stored_shifts(self) -> np.ndarray:
        """The shifts as held: float64 pixels, or int32 millionths of a pixel (`pixels`
        turns either into pixels)."""
        return self.shifts


MICRO = 1_000_000
"""Millionths of a pixel: the unit of shifts held as int32 (`CompactTrajectory`)."""
_MICRO_LIMIT = 2**31 - 1


def pixels(shifts: np.ndarray) -> np.ndarray:
    """Shifts in pixels (float64) from shifts as held (`Trajectory.stored_shifts`)."""
    return shifts / MICRO if shifts.dtype == np.int32 else shifts


def joined_pixels(parts: list[np.ndarray]) -> np.ndarray:
    """The concatenation of shifts as held, in pixels (float64)."""
    if not parts:
        return np.zeros((0, 2))
    joined = np.concatenate(parts)
    if joined.dtype == np.int32:  # every part held as millionths
        return joined / MICRO
    if any(part.dtype == np.int32 for part in parts):  # some of each: each in pixels first
        joined = np.concatenate([pixels(part) for part in parts])
    return joined.astype(np.float64, copy=False)


def as_micro(shifts: np.ndarray) -> np.ndarray | None:
    """`shifts` (float64 pixels) as int32 millionths of a pixel, if every one is exactly
    ``micro / MICRO`` (a shift read from text with at most 6 decimals, within ±2147 px, is);
    else None. Dividing two integers exact in float64 is rounded once, as ``float()`` rounds
    the same decimal text, so `pixels` gives back the same floats, bit for bit (a -0.0 would
    come back as 0.0: it is not held so)."""
    with np.errstate(over="ignore", invalid="ignore"):  # huge or not finite: None below
        micro = np.rint(shifts * MICRO)
    if micro.size and (np.abs(micro).max() > _MICRO_LIMIT
                       or np.signbit(shifts[shifts == 0]).any()):
        return None
    if not np.array_equal(micro / MICRO, shifts):
        return None
    return micro.astype(np.int32)


_EMPTY_SHIFTS = np.zeros((0, 2))
_EMPTY_SHIFTS.setflags(write=False)
_TRAJECTORY_SHIFTS: Any = Trajectory.__dict__["shifts"]  # the slot, shadowed below
_new = object.__new__


class CompactTrajectory(Trajectory):
    """A trajectory whose shifts are held as int32 millionths of a pixel (`as_micro`): half
    the memory of float64, which matters at hundreds of thousands of movies. `shifts` gives
    them in pixels, the same floats as read, as a new read-only array on each access; setting
    `shifts` holds the new pixels as given."""

    __slots__ = ("micro",)
    micro: np.ndarray | None
    """(F, 2) int32 millionths of a pixel; None once `shifts` is set."""

    @classmethod
    def of_micro(cls, key: str, movie_name: str, frames: np.ndarray, micro: np.ndarray,
                 pixel_size: float | None, source: str, program: str = "",
                 total_frames: int | None = None,
                 extras: dict[str, Any] | None = None) -> CompactTrajectory:
        # Each slot set here, not through the dataclass's __init__ and the `shifts` property:
        # 0.5 µs a trajectory instead of 1.3 (a test checks that every field is set).
        trajectory = _new(cls)
        trajectory.key = key
        trajectory.movie_name = movie_name
        trajectory.frames = frames
        _TRAJECTORY_SHIFTS.__set__(trajectory, _EMPTY_SHIFTS)
        trajectory.pixel_size = pixel_size
        trajectory.source = source
        trajectory.program = program
        trajectory.total_frames = total_frames
        trajectory.extras = {} if extras is None else extras
        trajectory.micro = micro
        return trajectory

    @property
    def shifts(self) -> np.ndarray:
        micro = self.micro
        if micro is None:
            return _TRAJECTORY_SHIFTS.__get__(self)
        found = micro / MICRO
        found.setflags(write=False)
        return found

    @shifts.setter
    def shifts(self, value: np.ndarray) -> None:
        _TRAJECTORY_SHIFTS.__set__(self, value)
        self.micro = None

    @property
    def stored_shifts(self) -> np.ndarray:
        micro = self.micro
        return _TRAJECTORY_SHIFTS.__get__(self) if micro is None else micro


@dataclass(frozen=True)
class Problem:
    """A movie (or file) that could not be turned into a trajectory, and why.

    Examples
    --------
    >>> motioncons.read("MotionCorr/job002").problems[0].reason
    'missing_metadata'
    """

    key: str
    movie_name: str
    source: str
    reason: str
    """Reason code, e.g. ``unreadable``, ``missing_metadata``, ``nan_shifts``."""
    message: str
    """One line naming the file and the problem."""


@runtime_checkable
class ReferenceTable(Protocol):
    """A reference input's own table (RELION micrographs, cryoSPARC exposures, a Scipion
    set), kept so that outputs can subset it: one movie key per row, in order."""

    path: str
    row_keys: list[str]


@dataclass
class TrajectorySet:
    """Everything one input contributed: trajectories, per-movie problems, and its provenance.

    Examples
    --------
    >>> found = motioncons.read("MotionCorr/job002")
    >>> found.format, len(found.trajectories), len(found.problems)
    ('relion corrected_micrographs.star', 3, 21)
    """

    path: str
    format: str
    trajectories: list[Trajectory] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    micrograph_table: ReferenceTable | None = None
    """Format-specific handle on the table the outputs subset (e.g. a RELION micrographs STAR)."""
    notes: list[str] = field(default_factory=list)
    validated: bool = False
    """Set by a reader that already made every unusable trajectory a problem as it read (in
    bulk, where that is cheaper): `formats.common.validate` then has nothing to do."""
    names_shared: bool = False
    """Set by a reader that already held its keys and names as another input's strings as it
    read (`SharedNames`, where that keeps the peak lower): `share_names` is not needed."""

    def add(self, item: Trajectory | Problem) -> None:
        if isinstance(item, Trajectory):
            self.trajectories.append(item)
        else:
            self.problems.append(item)

    def keys(self) -> set[str]:
        return {t.key for t in self.trajectories} | {p.key for p in self.problems}

    def share_names(self, other: TrajectorySet) -> None:
        """Hold the keys and movie names this set has in common with `other` as `other`'s own
        string objects (`SharedNames`)."""
        shared = SharedNames(other)
        for item in self.trajectories:
            shared.give(item)


class SharedNames:
    """The keys and movie names of one input's trajectories, given to another input's
    trajectories of the same movies, one at a time as they are read: two inputs name the same
    movies, and one copy of each name is kept, not two (about 170 bytes a movie).

    Two inputs of a session usually list their movies in the same order: the movie is then
    found by position, with nothing held; an index of the first input is made at the first
    movie out of order (a dict of its keys)."""

    def __init__(self, source: TrajectorySet) -> None:
        self._source = source.trajectories
        self._next = 0
        self._index: dict[str, int] | None = None

    def give(self, item: Trajectory) -> None:
        """Hold `item`'s key, and its movie name if equal, as those of the movie of the same
        key in the first input, if any."""
        source, at = self._source, self._next
        if at >= len(source) or source[at].key != item.key:
            if self._index is None:
                self._index = {}
                for position, trajectory in enumerate(source):
                    self._index.setdefault(trajectory.key, position)
            found = self._index.get(item.key)
            if found is None:
                return
            at = found
        match = source[at]
        self._next = at + 1
        item.key = match.key
        if item.movie_name == match.movie_name:
            item.movie_name = match.movie_name

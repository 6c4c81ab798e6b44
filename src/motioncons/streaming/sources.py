"""Inputs that grow: each poll says which result files are new or changed since the last one.

A file's identity is a token (size and modification time for per-movie files, a content hash
for a movie's rows in a table), so a file rewritten by a re-run aligner is seen again while an
untouched one is never parsed twice. Listing the directory on every poll is unavoidable; parsing
is only done for what changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..formats import read_input, scipion
from ..formats.common import checked
from ..formats.relion import (
    MICROGRAPHS_STAR,
    NOT_PER_MOVIE,
    RelionMicrographTable,
    read_micrographs_star,
    read_movie_star,
)
from ..trajectory import Problem, ReferenceTable, Trajectory

RELION_SUCCESS = "RELION_JOB_EXIT_SUCCESS"


@dataclass(frozen=True)
class Change:
    source: str
    """The file (or, for tables, ``file#movie``) the item comes from."""
    token: str


class Source:
    """An input that grows. `known` maps each consumed result to its token; a result that was
    not consumed (still incomplete) is not remembered, so the next poll reads it again."""

    format = ""

    def __init__(self) -> None:
        self.known: dict[str, str] = {}

    def remember(self, source: str, token: str) -> None:
        self.known[source] = token

    def poll(self, full: bool = True) -> list[Change]:
        """What is new or changed. Without `full`, a source may re-check what it already
        consumed on a rolling schedule instead of every time."""
        raise NotImplementedError

    def read(self, change: Change) -> Trajectory | Problem:
        raise NotImplementedError

    def closed(self) -> bool:
        """The program that writes this input has said it is done."""
        return False

    def table(self) -> ReferenceTable | None:
        return None

    def listed(self) -> list[Problem]:
        """Movies the input's index lists whose result file was never seen (at close)."""
        return []


class RelionJobSource(Source):
    """A RELION MotionCorr job directory (or any directory) of per-movie STAR files.

    A poll lists the directories (new names need it) but stats only what can have changed: a
    name not consumed yet, and one in `RECHECK_EVERY` of the consumed results, in turn, so that
    every consumed result is checked again within `RECHECK_EVERY` polls (an aligner re-run that
    rewrites a result in place is seen then). Each consumed result gets its turn when first
    remembered, round robin, so a poll re-checks at most ceil(consumed / RECHECK_EVERY).
    A `full` poll stats everything: the first one, and every one once the inputs are closed. On
    a network file system each stat is a round trip.
    """

    format = "relion job directory (polled)"
    RECHECK_EVERY = 20

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = str(directory.resolve())
        self._table: RelionMicrographTable | None = None
        self._table_token: str | None = None
        self.polls = 0
        self.stats = 0
        """stat calls made, for the benchmark and the tests."""
        self.turns: dict[str, int] = {}

    def remember(self, source: str, token: str) -> None:
        super().remember(source, token)
        if source not in self.turns:
            self.turns[source] = len(self.turns) % self.RECHECK_EVERY

    def _scan(self, directory: str) -> Iterator[os.DirEntry]:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from self._scan(entry.path)
            elif entry.name.endswith(".star") and entry.name not in NOT_PER_MOVIE:
                yield entry

    def poll(self, full: bool = True) -> list[Change]:
        turn = self.polls % self.RECHECK_EVERY
        full = full or self.polls == 0
        self.polls += 1
        changes = []
        for entry in self._scan(self.directory):
            if not full and entry.path in self.known and self.turns[entry.path] != turn:
                continue
            try:
                self.stats += 1
                stat = entry.stat()
            except OSError:
                continue
            token = f"{stat.st_size}:{stat.st_mtime_ns}"
            if self.known.get(entry.path) != token:
                changes.append(Change(entry.path, token))
        return changes

    def read(self, change: Change) -> Trajectory | Problem:
        return checked(read_movie_star(change.source))

    def closed(self) -> bool:
        return os.path.exists(os.path.join(self.directory, RELION_SUCCESS))

    def table(self) -> RelionMicrographTable | None:
        """The job's micrographs table, re-read only when it changed; None while unreadable."""
        path = os.path.join(self.directory, MICROGRAPHS_STAR)
        try:
            stat = os.stat(path)
        except OSError:
            return self._table
        token = f"{stat.st_size}:{stat.st_mtime_ns}"
        if token != self._table_token:
            try:
                dataset = read_micrographs_star(Path(path), read_movies=False)
            except InputError:
                return self._table  # being rewritten: keep the last complete one
            table = dataset.micrograph_table
            self._table = table if isinstance(table, RelionMicrographTable) else None
            self._table_token = token
        return self._table

    def listed(self) -> list[Problem]:
        table = self.table()
        if table is None:
            return []
        return [listed_problem(key, table.path) for key in table.row_keys]


class FileSource(Source):
    """A single-file input (a table, a Scipion set, a cryoSPARC .cs, a MotionCor batch log),
    re-read when the file changes; a movie changes when its trajectory does."""

    format = "file (polled)"

    def __init__(self, path: Path, pixel_size: float | None,
                 cryosparc_project_dir: str | None = None) -> None:
        super().__init__()
        self.path = path
        self.pixel_size = pixel_size
        self.cryosparc_project_dir = cryosparc_project_dir
        self.items: dict[str, Trajectory | Problem] = {}
        self._file_token: str | None = None
        self._table: ReferenceTable | None = None

    def poll(self, full: bool = True) -> list[Change]:
        try:
            stat = self.path.stat()
        except OSError:
            return []
        token = f"{stat.st_size}:{stat.st_mtime_ns}"
        if token != self._file_token:
            try:
                dataset = read_input(self.path, self.pixel_size,
                                     cryosparc_project_dir=self.cryosparc_project_dir)
            except InputError:
                return []  # empty or being written
            self._file_token = token
            self.format = f"{dataset.format} (polled)"
            self._table = dataset.micrograph_table
            self.items = {}
            items: list[Trajectory | Problem] = [*dataset.trajectories, *dataset.problems]
            for item in items:
                self.items[f"{self.path}#{item.movie_name}"] = item
        changes = []
        for source, item in self.items.items():
            digest = _digest(item)
            if self.known.get(source) != digest:
                changes.append(Change(source, digest))
        return changes

    def read(self, change: Change) -> Trajectory | Problem:
        return self.items[change.source]

    def table(self) -> ReferenceTable | None:
        return self._table

    def closed(self) -> bool:
        """A Scipion set says so itself (``_streamState`` 2); other files never do."""
        if self.path.suffix == ".sqlite":
            try:
                return scipion.stream_closed(self.path)
            except InputError:
                return False
        return False


def listed_problem(key: str, index: str) -> Problem:
    """A movie that an input's index lists but whose result file never appeared."""
    return Problem(key, key, index, "missing_metadata",
                   f"{index}: lists movie {key} but its metadata STAR file was never found")


def _digest(item: Trajectory | Problem) -> str:
    if isinstance(item, Problem):
        return "problem:" + item.message
    import hashlib  # here: it maps OpenSSL's library, 4 MB, into every process

    hasher = hashlib.sha1(item.frames.tobytes())
    hasher.update(item.shifts.tobytes())
    hasher.update(repr(item.pixel_size).encode())
    return hasher.hexdigest()


def open_source(path: str | Path, pixel_size: float | None = None,
                cryosparc_project_dir: str | None = None) -> Source:
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file or directory")
    if p.is_dir():
        return RelionJobSource(p)
    if p.name == MICROGRAPHS_STAR:
        return RelionJobSource(p.parent)
    return FileSource(p, pixel_size, cryosparc_project_dir)

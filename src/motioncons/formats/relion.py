"""RELION motion correction (own implementation and MotionCor2/3 wrapper), RELION 3.0 to 5.0.

Per-movie metadata STAR (``MotionCorr/jobNNN/Movies/<stem>.star``): ``data_general`` and
``data_global_shift`` (``_rlnMicrographFrameNumber``, ``_rlnMicrographShiftX/Y``), one row per movie
frame, unobserved frames written as -9999. Shifts are already in the canonical convention
(unbinned movie pixels, applied-shift sign, 1-based frames): see
``shared/reference/formats_relion_motioncor.md`` §1.

Inputs accepted: a job directory, its ``corrected_micrographs.star`` (3.0 single table or 3.1+
optics + micrographs), a tomography job's ``corrected_tilt_series.star``, a directory of per-movie
STAR files, or a single per-movie STAR file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gemmi

from ..errors import InputError
from ..trajectory import Problem, SharedNames, Trajectory, TrajectorySet, movie_key
from .common import checked, one_line
from .packed_lines import PackedLines
from .relion_batch import current_session, iter_movie_stars, prefetch, read_movie_stars
from .relion_movie import NAME as NAME  # this reader's name (formats.detect, its errors)
from .relion_movie import read_movie_star
from .star import parse_cif, requoted, unescape

__all__ = [
    "detect",
    "read",
    "read_micrographs_star",
    "read_movie_star",
    "read_movie_star_directory",
    "read_movie_stars",
    "read_tilt_series_star",
]


MICROGRAPHS_STAR = "corrected_micrographs.star"
TILT_SERIES_STAR = "corrected_tilt_series.star"
NOT_PER_MOVIE = {MICROGRAPHS_STAR, TILT_SERIES_STAR, "job.star", "movies.star",
                  "default_pipeline.star", "RELION_OUTPUT_NODES.star", "job_pipeline.star"}


@dataclass
class RelionMicrographTable:
    """The reference micrographs STAR, kept so that outputs can subset it without re-reading."""

    path: str
    preamble: str
    """Everything before the micrographs block, verbatim (version lines, ``data_optics``)."""
    block_name: str
    """``micrographs`` (3.1+), or empty for the 3.0 single ``data_`` table."""
    tags: list[str]
    lines: Sequence[str]
    """Each row as the subsets write it: its raw values (quotes kept) joined by spaces, a bare
    non-ASCII value quoted (`star.requoted`). One string a row, not one a value (300 bytes less
    a movie), kept deflated (`PackedLines`: 170 bytes less a movie)."""
    row_keys: list[str]
    optics_groups: list[str] = field(default_factory=list)
    """Each row's ``_rlnOpticsGroup`` value, when the table has that column."""
    optics: dict[str, list[str]] = field(default_factory=dict)
    """The ``data_optics`` columns (raw strings), empty for RELION 3.0."""

    @classmethod
    def from_rows(cls, path: str, preamble: str, block_name: str, tags: list[str],
                  rows: list[list[str]], row_keys: list[str],
                  optics: dict[str, list[str]] | None = None) -> RelionMicrographTable:
        """The table of `rows` of raw values, one list of `len(tags)` values a row."""
        return cls.from_values(path, preamble, block_name, tags,
                               [value for row in rows for value in row], row_keys, optics)

    @classmethod
    def from_values(cls, path: str, preamble: str, block_name: str, tags: list[str],
                    values: list[str], row_keys: list[str],
                    optics: dict[str, list[str]] | None = None) -> RelionMicrographTable:
        """The table of a loop's raw values in order, `len(tags)` a row, without making the
        rows (a list a row: 0.04-0.08 s of 50,000)."""
        width = len(tags)
        groups: list[str] = []
        if "_rlnOpticsGroup" in tags:
            shared: dict[str, str] = {}  # a session has a few groups: one string each
            groups = [shared.setdefault(group, group)
                      for group in values[tags.index("_rlnOpticsGroup")::width]]
        lines = (_line(values[start: start + width]) for start in range(0, len(values), width))
        return cls(path, preamble, block_name, tags, PackedLines(lines), row_keys, groups,
                   optics or {})


def _line(row: list[str]) -> str:
    line = " ".join(row)
    return line if line.isascii() else " ".join(map(requoted, row))


def detect(path: Path) -> bool:
    if path.is_dir():
        if (path / MICROGRAPHS_STAR).is_file() or (path / TILT_SERIES_STAR).is_file():
            return True
        return any(path.glob("*.star")) or any(path.glob("*/*.star"))
    return path.suffix == ".star"


def read(path: Path, pixel_size: float | None = None, workers: int | None = None,
         keep_table: bool = True, names_from: TrajectorySet | None = None) -> TrajectorySet:
    """`path`'s trajectories; a micrographs table's movies hold their keys and movie names
    equal to those of `names_from` as its strings as they are read (`SharedNames`)."""
    if path.is_dir():
        if (path / MICROGRAPHS_STAR).is_file():
            return read_micrographs_star(path / MICROGRAPHS_STAR, workers=workers,
                                         keep_table=keep_table, names_from=names_from)
        if (path / TILT_SERIES_STAR).is_file():
            return read_tilt_series_star(path / TILT_SERIES_STAR)
        return read_movie_star_directory(path, workers)
    head = _read_head(path)
    if not head.strip():
        raise InputError(path, "empty file")
    if b"_rlnMicrographMovieName" in head and b"_rlnMicrographMetadata" not in head and \
            b"data_global_shift" not in head and b"data_general" not in head:
        raise InputError(path, "a RELION Import movie list (movies.star) holds no motion: give "
                               "the MotionCorr job (or its corrected_micrographs.star) instead")
    if path.name == MICROGRAPHS_STAR or b"_rlnMicrographName" in head \
            or b"_rlnMicrographMetadata" in head:
        return read_micrographs_star(path, workers=workers, keep_table=keep_table,
                                     names_from=names_from)
    if b"_rlnTomoTiltSeriesStarFile" in head:
        return read_tilt_series_star(path)
    result = read_movie_star(path)
    dataset = TrajectorySet(path=str(path), format="relion per-movie STAR")
    dataset.add(result)
    return dataset


def _read_head(path: Path, size: int = 65536) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from exc


# --------------------------------------------------------------------------- directories


def read_movie_star_directory(path: Path, workers: int | None = None) -> TrajectorySet:
    """Every per-movie STAR below `path` (recursively); other STAR files are skipped."""
    dataset = TrajectorySet(path=str(path), format="relion per-movie STAR directory")
    jobs: list[tuple[str, str | None]] = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        jobs += [(os.path.join(root, name), None) for name in sorted(files)
                 if name.endswith(".star") and name not in NOT_PER_MOVIE]
    skipped: list[str] = []
    for (file_path, _), item in zip(jobs, read_movie_stars(jobs, workers), strict=True):
        if isinstance(item, Problem) and item.reason == "unreadable" and _other_star(file_path):
            skipped.append(file_path)
            continue
        dataset.add(item)
    dataset.validated = True
    if skipped:
        dataset.notes.append(f"{len(skipped)} STAR file(s) in {path} are not per-movie motion "
                             f"files and were skipped: {', '.join(skipped[:3])}")
    if not dataset.trajectories and not dataset.problems:
        raise InputError(path, "no per-movie RELION motion STAR files (with data_global_shift) "
                               "found in this directory")
    return dataset


def _other_star(path: str) -> bool:
    """A well-formed STAR file of another kind (e.g. coordinates): skipped, not a broken movie.
    Anything else that fails to read (empty, garbage, truncated, UTF-16) is that movie's
    problem and is reported as such."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        doc, _ = parse_cif(text)
    except (OSError, ValueError, RuntimeError):
        return False
    names = {block.name for block in doc}
    return bool(names) and not names & {"general", "global_shift"}


# --------------------------------------------------------------------------- micrographs STAR


class _MetadataResolver:
    """Finds the per-movie STAR a micrographs table points to.

    The paths are relative to the RELION project directory, which is usually two levels above
    the job directory, but results get copied around. The first rule that finds a file (a base
    directory, and how many leading path components to drop) is reused for every row without
    touching the file system; a row whose file the rule misses is searched for again.
    """

    def __init__(self, star_path: Path) -> None:
        star_dir = str(star_path.resolve().parent)
        parent = os.path.dirname(star_dir)
        self.bases = [os.getcwd(), os.path.dirname(parent), parent, star_dir]
        self.star_dir = star_dir
        self.rule: tuple[str, int] | None = None

    @staticmethod
    def _apply(rule: tuple[str, int], recorded: str) -> str:
        base, strip = rule
        if strip:
            recorded = "/".join(recorded.split("/")[strip:])
        if recorded.startswith("/"):
            return recorded
        # os.path.join, without its per-call overhead (100,000 rows)
        return base + recorded if base.endswith("/") or not base else base + "/" + recorded

    def search(self, recorded: str) -> str | None:
        rules = [(base, 0) for base in self.bases]
        rules += [(self.star_dir, strip) for strip in range(1, recorded.count("/") + 1)]
        for rule in rules:
            candidate = self._apply(rule, recorded)
            if os.path.isfile(candidate):
                self.rule = rule
                return candidate
        return None

    def resolve(self, recorded: str) -> str:
        if recorded.startswith("/"):
            return recorded
        if self.rule is None:
            return self.search(recorded) or self._apply((self.bases[1], 0), recorded)
        return self._apply(self.rule, recorded)

    def resolve_all(self, recorded: list[str]) -> list[str]:
        """`resolve` of each, in order: once a rule that drops no component is found, the
        rest in one pass (a call a row cost 2 µs of 100,000 rows)."""
        found: list[str] = []
        for i, item in enumerate(recorded):
            if self.rule is not None and not self.rule[1]:
                base = self.rule[0]
                prefix = base if base.endswith("/") or not base else base + "/"
                return found + [path if path.startswith("/") else prefix + path
                                for path in recorded[i:]]
            found.append(self.resolve(item))
        return found


def _parse_star(path: Path) -> tuple[str, gemmi.cif.Document, bool]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(path, "not a text STAR file (cannot decode as UTF-8)") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from exc
    if not text.strip():
        raise InputError(path, "empty file")
    try:
        doc, escaped = parse_cif(text)
    except (ValueError, RuntimeError) as exc:
        raise InputError(path, f"malformed or truncated STAR: {one_line(exc)}") from exc
    return text, doc, escaped


def _loop_rows(loop: gemmi.cif.Loop, escaped: bool = False) -> list[list[str]]:
    width = loop.width()
    values = _loop_values(loop, escaped)
    return [values[i: i + width] for i in range(0, len(values), width)]


def _loop_values(loop: gemmi.cif.Loop, escaped: bool = False) -> list[str]:
    """A loop's raw values in order, row after row."""
    return [unescape(v) for v in loop.values] if escaped else list(loop.values)


def _column(block: gemmi.cif.Block, tag: str, escaped: bool) -> list[str]:
    """A loop column's values as strings (quotes removed), without making the others. Only a
    quoted value, a text field or a null (``.``, ``?``) is given to `gemmi.cif.as_string`:
    any other is its own string (a call a value cost 0.4 µs, 50,000 rows)."""
    raw = [unescape(value) for value in block.find_loop(tag)] if escaped else \
        list(block.find_loop(tag))
    as_string = gemmi.cif.as_string
    return [as_string(value) if value[:1] in _QUOTES or value in _NULLS else value
            for value in raw]


_QUOTES = "'\";"
"""The first characters of a value `gemmi.cif.as_string` changes (with an empty one)."""
_NULLS = (".", "?")


def _micrographs_loop(doc: gemmi.cif.Document,
                      path: Path) -> tuple[gemmi.cif.Block, gemmi.cif.Loop]:
    for block in doc:
        column = block.find_loop("_rlnMicrographMetadata")
        if column.get_loop() is not None:
            return block, column.get_loop()
    for block in doc:
        if block.find_loop("_rlnMicrographName").get_loop() is not None:
            raise InputError(path, "micrographs table has no _rlnMicrographMetadata column: the "
                                   "per-movie motion STAR files cannot be found (is this a "
                                   "MotionCorr output?)")
    raise InputError(path, "no micrographs table (_rlnMicrographMetadata) in this STAR file")


def _preamble(text: str, block_name: str, path: Path) -> str:
    """The text before the block's ``data_`` line. The lines are split up to the end of the
    line of each place the name is found, not all of them (tens of MB at 50,000 movies): the
    first line that is the name alone is one of those."""
    marker = f"data_{block_name}"
    found = text.find(marker)
    while found >= 0:
        end = text.find("\n", found)
        position = 0
        for line in text[:len(text) if end < 0 else end + 1].splitlines(keepends=True):
            if line.strip() == marker:
                return text[:position]
            position += len(line)
        found = text.find(marker, found + 1)
    raise InputError(path, f"block {marker} not found")


def _optics(doc: gemmi.cif.Document, escaped: bool) -> dict[str, list[str]]:
    block = doc.find_block("optics")
    if block is None:
        return {}
    for item in block:
        if item.loop is not None:
            rows = _loop_rows(item.loop, escaped)
            return {tag: [row[c] for row in rows] for c, tag in enumerate(item.loop.tags)}
    return {}


@dataclass
class _Plan:
    """A micrographs table parsed, as reading its movies needs it."""

    dataset: TrajectorySet
    recorded: list[str]
    """Each row's ``_rlnMicrographMetadata`` as written."""
    jobs: list[tuple[str, str | None] | None]
    """Each row's per-movie STAR as found (`_MetadataResolver`), and its fallback movie name."""
    resolver: _MetadataResolver
    row_keys: list[str]
    make_table: Callable[[], RelionMicrographTable | None]
    """The table kept (None without `keep_table`), made once; the parsed file is then freed."""


def _micrographs_table(path: Path) -> tuple[str, gemmi.cif.Document, bool, gemmi.cif.Block,
                                             gemmi.cif.Loop, str, list[str]]:
    """A micrographs STAR parsed: its text, document, whether escaped, the table's block, loop,
    block name and tags; an empty table is an error."""
    text, doc, escaped = _parse_star(path)
    block, loop = _micrographs_loop(doc, path)
    block_name = block.name.strip()  # gemmi names RELION 3.0's bare "data_" block " "
    if not loop.length():
        raise InputError(path, "the micrographs table is empty")
    return text, doc, escaped, block, loop, block_name, list(loop.tags)


def _planned(path: Path, keep_table: bool) -> _Plan:
    text, doc, escaped, block, loop, block_name, tags = _micrographs_table(path)
    meta_col = tags.index("_rlnMicrographMetadata")
    fallback_col = _fallback_column(tags)
    recorded = _column(block, tags[meta_col], escaped)
    fallbacks = recorded if fallback_col == meta_col else _column(block, tags[fallback_col],
                                                                   escaped)
    resolver = _MetadataResolver(path)
    row_keys: list[str] = []
    # Without the table, the parsed file (tens of MB at 50,000 movies) is not kept at all.
    parsed: list[Any] = [text, doc, loop] if keep_table else []
    del text, doc, block, loop

    def make_table() -> RelionMicrographTable | None:
        """The table kept, made while the workers read the first files (0.17 s of 50,000
        movies); then the parsed file is freed: reading the secondary's table on top of the
        reference's movies makes the run's peak."""
        if not parsed:
            return None
        text, doc, loop = parsed
        parsed.clear()
        return RelionMicrographTable.from_values(
            str(path), _preamble(text, block_name, path), block_name, tags,
            _loop_values(loop, escaped), row_keys, _optics(doc, escaped))

    jobs: list[tuple[str, str | None] | None] = list(
        zip(resolver.resolve_all(recorded), fallbacks, strict=True))
    dataset = TrajectorySet(path=str(path), format="relion corrected_micrographs.star")
    return _Plan(dataset, recorded, jobs, resolver, row_keys, make_table)


def _fallback_column(tags: list[str]) -> int:
    """The column that names a movie whose per-movie STAR names none: the movie, else the
    micrograph, else the per-movie STAR itself."""
    for tag in ("_rlnMicrographMovieName", "_rlnMicrographName", "_rlnMicrographMetadata"):
        if tag in tags:
            return tags.index(tag)
    raise ValueError("no _rlnMicrographMetadata column")


def prepare(path: str | Path, workers: int | None = None) -> None:
    """Within `relion_batch.shared_readers`, parse the micrographs table of the input at
    `path` (a job folder or its ``corrected_micrographs.star``) and start reading its movies
    behind what is being read, for a read of it without its table (`keep_table` False) to come.
    Best effort: anything else, or anything wrong, is left to that read, which reports it."""
    session = current_session()
    if session is None:
        return
    given = Path(path)
    star = given if given.name == MICROGRAPHS_STAR else given / MICROGRAPHS_STAR
    try:
        if not star.is_file() or (given / TILT_SERIES_STAR).is_file():
            return
        plan = _planned(star, keep_table=False)
    except Exception:
        return
    if prefetch(plan.jobs, workers):
        session.plans[_plan_key(star, False)] = plan


def _plan_key(path: Path, keep_table: bool) -> tuple[str, bool]:
    return os.path.abspath(path), keep_table


def read_micrographs_star(path: Path, read_movies: bool = True, workers: int | None = None,
                          keep_table: bool = True, names_from: TrajectorySet | None = None
                          ) -> TrajectorySet:
    """``corrected_micrographs.star`` (or a per-tilt table): one trajectory per listed movie.

    With ``read_movies=False`` only the table is parsed (the keys then come from the names it
    records), for callers that read the per-movie files themselves. Without `keep_table` the
    table is dropped once the movies' paths are known (`micrograph_table` is then None). Keys
    and movie names equal to those of `names_from` are held as its strings as each movie is
    read (`SharedNames`).
    """
    if not read_movies:
        return _table_only(path)
    session = current_session()
    plan = session.plans.pop(_plan_key(path, keep_table), None) if session else None
    if plan is None:
        plan = _planned(path, keep_table)
    dataset, recorded, jobs, resolver = plan.dataset, plan.recorded, plan.jobs, plan.resolver
    table: RelionMicrographTable | None = None

    def make_table() -> None:
        nonlocal table
        table = plan.make_table()

    shared = SharedNames(names_from) if names_from is not None else None
    with contextlib.closing(iter_movie_stars(jobs, workers, meanwhile=make_table)) as items:
        for i, item in enumerate(items):
            # What only reading needed goes as the movies are read (the peak is at the end).
            job, jobs[i] = jobs[i], None
            where, recorded[i] = recorded[i], ""
            if isinstance(item, Problem) and item.reason == "missing_metadata":
                found = resolver.search(where)
                if found is not None:
                    item = checked(read_movie_star(found, job[1] if job else None))
            if shared is not None and isinstance(item, Trajectory):
                shared.give(item)
            dataset.add(item)
            plan.row_keys.append(item.key)
    dataset.validated = True
    dataset.names_shared = shared is not None
    dataset.micrograph_table = table
    return dataset


def _table_only(path: Path) -> TrajectorySet:
    """The table of a micrographs STAR, its movies not read (`read_micrographs_star`)."""
    text, doc, escaped, block, loop, block_name, tags = _micrographs_table(path)
    keys = [movie_key(name) for name in _column(block, tags[_fallback_column(tags)], escaped)]
    dataset = TrajectorySet(path=str(path), format="relion corrected_micrographs.star")
    dataset.micrograph_table = RelionMicrographTable.from_values(
        str(path), _preamble(text, block_name, path), block_name, tags,
        _loop_values(loop, escaped), keys, _optics(doc, escaped))
    return dataset


def read_tilt_series_star(path: Path) -> TrajectorySet:
    """RELION 5 tomography: ``corrected_tilt_series.star`` lists one per-tilt STAR per series."""
    _, doc, escaped = _parse_star(path)
    column = None
    for block in doc:
        found = block.find_loop("_rlnTomoTiltSeriesStarFile")
        if found.get_loop() is not None:
            column = found
            break
    if column is None or len(column) == 0:
        raise InputError(path, "no _rlnTomoTiltSeriesStarFile entries")
    resolver = _MetadataResolver(path)
    dataset = TrajectorySet(path=str(path), format="relion corrected_tilt_series.star")
    missing = []
    for recorded in column:
        name = unescape(gemmi.cif.as_string(recorded)) if escaped else gemmi.cif.as_string(
            recorded)
        series_path = resolver.search(name)
        if series_path is None:
            missing.append(resolver.resolve(name))
            continue
        series = read_micrographs_star(Path(series_path))
        dataset.trajectories.extend(series.trajectories)
        dataset.problems.extend(series.problems)
    if missing:
        dataset.notes.append(f"{len(missing)} tilt-series STAR file(s) listed in {path} do not "
                             f"exist, their movies are unknown: {', '.join(missing[:3])}")
    if not dataset.trajectories and not dataset.problems:
        raise InputError(path, "none of the listed tilt-series STAR files could be read")
    dataset.notes.append("tomography input: STAR subsets are not written for tilt series; see "
                         "consensus.csv and the movie lists")
    return dataset

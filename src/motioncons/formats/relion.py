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

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gemmi
import numpy as np

from ..errors import InputError
from ..trajectory import Problem, Trajectory, TrajectorySet, movie_key
from ..workers import worker_pool
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

MICROGRAPHS_STAR = "corrected_micrographs.star"
TILT_SERIES_STAR = "corrected_tilt_series.star"
NOT_PER_MOVIE = {MICROGRAPHS_STAR, TILT_SERIES_STAR, "job.star", "movies.star",
                  "default_pipeline.star", "RELION_OUTPUT_NODES.star", "job_pipeline.star"}
_SHIFT_TAGS = ["_rlnMicrographFrameNumber", "_rlnMicrographShiftX", "_rlnMicrographShiftY"]
PARALLEL_THRESHOLD = 4000
"""Below this many per-movie files, reading in one process is faster than starting workers."""


@dataclass
class RelionMicrographTable:
    """The reference micrographs STAR, kept so that outputs can subset it without re-reading."""

    path: str
    preamble: str
    """Everything before the micrographs block, verbatim (version lines, ``data_optics``)."""
    block_name: str
    """``micrographs`` (3.1+), or empty for the 3.0 single ``data_`` table."""
    tags: list[str]
    rows: list[list[str]]
    """Raw values, exactly as written (quotes kept)."""
    row_keys: list[str]
    movie_names: list[str | None]
    optics: dict[str, list[str]] = field(default_factory=dict)
    """The ``data_optics`` columns (raw strings), empty for RELION 3.0."""


def detect(path: Path) -> bool:
    if path.is_dir():
        if (path / MICROGRAPHS_STAR).is_file() or (path / TILT_SERIES_STAR).is_file():
            return True
        return any(path.glob("*.star")) or any(path.glob("*/*.star"))
    return path.suffix == ".star"


def read(path: Path, pixel_size: float | None = None,
         workers: int | None = None) -> TrajectorySet:
    if path.is_dir():
        if (path / MICROGRAPHS_STAR).is_file():
            return read_micrographs_star(path / MICROGRAPHS_STAR, workers=workers)
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
        return read_micrographs_star(path, workers=workers)
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


# --------------------------------------------------------------------------- per-movie STAR


def read_movie_star(path: Path | str, fallback_name: str | None = None) -> Trajectory | Problem:
    """Read one per-movie metadata STAR. Never raises: bad content gives a Problem."""
    try:
        return _read_movie_star(path, fallback_name)
    except Exception as exc:  # any failure of one file is its movie's problem
        return unreadable(path, exc, name=fallback_name)


def _read_movie_star(path: Path | str, fallback_name: str | None) -> Trajectory | Problem:
    source = path if isinstance(path, str) else str(path)

    def fail(reason: str, text: str, name: str | None = None) -> Problem:
        name = name or fallback_name or source.rsplit("/", 1)[-1]
        return problem(movie_key(name), name, source, reason, text)

    try:
        with open(source, "rb", buffering=0) as handle:
            raw = handle.readall()
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
    if loop is None or loop.length() == 0 or not all(t in tags for t in _SHIFT_TAGS):
        return fail("unreadable", "data_global_shift has no frame rows "
                                     "(truncated or still being written)", name)
    width = loop.width()
    raw_values = loop.values
    n = len(raw_values) // width
    frame_col, x_col, y_col = (tags.index(t) for t in _SHIFT_TAGS)
    frame_strings = raw_values[frame_col::width]
    try:
        shifts = np.array(raw_values[x_col::width] + raw_values[y_col::width],
                          dtype=np.float64).reshape(2, n).T
        # RELION always numbers 1..N; anything else is converted and checked.
        regular = frame_strings == _one_to(n)
        frames = (_frames_one_to(n) if regular
                  else np.array(frame_strings, dtype=np.float64))
    except ValueError as exc:
        return fail("unreadable", f"non-numeric value in data_global_shift: {one_line(exc)}",
                       name)
    total = _frame_count(general)
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
    extras: dict[str, Any] = {}
    for label, key in _EXTRAS:
        value = general.find_value(label) if general else None
        if value is not None:
            extras[key] = _shared(value)
    if not observed.all():
        extras["unobserved_frames"] = int((~observed).sum())
        frames, shifts = frames[observed], shifts[observed]
    return Trajectory(
        key=movie_key(name),
        movie_name=name,
        frames=frames,
        shifts=np.ascontiguousarray(shifts),
        pixel_size=pixel_size_or_none(_number(general, "_rlnMicrographOriginalPixelSize")),
        source=source,
        program=NAME,
        total_frames=None if total is None else int(total),
        extras=extras,
    )


_VALUES: dict[str, str] = {}


def _shared(value: Any) -> Any:
    """One copy of each text value (every movie's "1.000000" binning is the same string)."""
    return _VALUES.setdefault(value, value) if isinstance(value, str) else value


@functools.lru_cache(maxsize=1024)
def _frames_one_to(n: int) -> np.ndarray:
    """1..n, read-only and shared by every movie of n frames (most of them): a trajectory's
    frame numbers are never changed in place."""
    frames = np.arange(1, n + 1, dtype=np.int64)
    frames.setflags(write=False)
    return frames


@functools.lru_cache(maxsize=256)
def _one_to(n: int) -> list[str]:
    """["1", ..., str(n)]: comparing with it checks a frame column in one step."""
    return [str(i) for i in range(1, n + 1)]


_EXTRAS = (("_rlnMicrographBinning", "binning"), ("_rlnMicrographStartFrame", "start_frame"),
           ("_rlnEERUpsampling", "eer_upsampling"), ("_rlnEERGrouping", "eer_grouping"),
           ("_rlnMotionModelVersion", "motion_model_version"))


def _frame_count(block: gemmi.cif.Block | None) -> int | None:
    """``_rlnImageSizeZ``, or None when absent or not a plausible frame count."""
    try:
        return bounded_int(_number(block, "_rlnImageSizeZ"), "frames", 1)
    except (TypeError, ValueError):
        return None


def _number(block: gemmi.cif.Block | None, tag: str) -> float | None:
    value = block.find_value(tag) if block else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _motioncor3_star(text: str) -> str:
    """MotionCor3's ``-OutStar`` writes ``loop`` and ``rlnMicrographBinning`` without their
    underscores (reference §6.2); RELION's own files are returned unchanged."""
    if "\nloop\n" not in text and "\nrln" not in text:
        return text
    lines = ["loop_" if line.strip() == "loop" else
             "_" + line.lstrip() if line.lstrip().startswith("rln") else line
             for line in text.splitlines()]
    return "\n".join(lines) + "\n"


def _read_chunk(jobs: list[tuple[str, str | None]]) -> list[Trajectory | Problem]:
    return [read_movie_star(path, fallback) for path, fallback in jobs]


def _read_chunk_packed(jobs: list[tuple[str, str | None]]) -> tuple:
    """Like `_read_chunk`, packed so that it crosses the process boundary cheaply."""
    items = _read_chunk(jobs)
    trajectories = [t for t in items if isinstance(t, Trajectory)]
    slots = [(t.key, t.movie_name, t.pixel_size, t.total_frames, t.extras) if isinstance(
        t, Trajectory) else t for t in items]
    lengths = np.array([t.n_frames for t in trajectories], dtype=np.int64)
    # Frame numbers 1..n are not sent: the other side uses its shared copy.
    regular = np.array([t.frames is _frames_one_to(t.n_frames) for t in trajectories], dtype=bool)
    irregular = [t.frames for t, shared in zip(trajectories, regular, strict=True) if not shared]
    frames = np.concatenate(irregular) if irregular else np.zeros(0, dtype=np.int64)
    shifts = np.concatenate([t.shifts for t in trajectories]) if trajectories else np.zeros((0, 2))
    return slots, lengths, regular, frames, shifts


def _unpack(jobs: list[tuple[str, str | None]], packed: tuple) -> list[Trajectory | Problem]:
    slots, lengths, regular, frames, shifts = packed
    ends = np.cumsum(lengths).tolist()
    frame_ends = np.cumsum(np.where(regular, 0, lengths)).tolist()
    out: list[Trajectory | Problem] = []
    k = 0
    for (path, _), slot in zip(jobs, slots, strict=True):
        if isinstance(slot, Problem):
            out.append(slot)
            continue
        key, name, pixel_size, total, extras = slot
        n = int(lengths[k])
        own = _frames_one_to(n) if regular[k] else frames[frame_ends[k] - n: frame_ends[k]]
        out.append(Trajectory(key, name, own, shifts[ends[k] - n: ends[k]], pixel_size, path,
                              NAME, total, {label: _shared(v) for label, v in extras.items()}))
        k += 1
    return out


def read_movie_stars(jobs: list[tuple[str, str | None]],
                     workers: int | None = None) -> list[Trajectory | Problem]:
    """Read many per-movie STAR files (path, fallback name), in worker processes when many."""
    workers = min(os.cpu_count() or 1, 8) if workers is None else workers
    if len(jobs) < PARALLEL_THRESHOLD or workers < 2:
        return _read_chunk(jobs)
    size = max(500, len(jobs) // (workers * 4))
    chunks = [jobs[i: i + size] for i in range(0, len(jobs), size)]
    with worker_pool(workers) as pool:
        if pool is None:
            return _read_chunk(jobs)
        return [item for chunk, packed in zip(chunks, pool.map(_read_chunk_packed, chunks),
                                              strict=True)
                for item in _unpack(chunk, packed)]


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
    values = [unescape(v) for v in loop.values] if escaped else list(loop.values)
    return [values[i: i + width] for i in range(0, len(values), width)]


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
    marker = f"data_{block_name}"
    position = 0
    for line in text.splitlines(keepends=True):
        if line.strip() == marker:
            return text[:position]
        position += len(line)
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


def read_micrographs_star(path: Path, read_movies: bool = True,
                          workers: int | None = None) -> TrajectorySet:
    """``corrected_micrographs.star`` (or a per-tilt table): one trajectory per listed movie.

    With ``read_movies=False`` only the table is parsed (the keys then come from the names it
    records), for callers that read the per-movie files themselves.
    """
    text, doc, escaped = _parse_star(path)
    block, loop = _micrographs_loop(doc, path)
    block_name = block.name.strip()  # gemmi names RELION 3.0's bare "data_" block " "
    tags = list(loop.tags)
    rows = _loop_rows(loop, escaped)
    meta_col = tags.index("_rlnMicrographMetadata")
    name_col = tags.index("_rlnMicrographName") if "_rlnMicrographName" in tags else None
    movie_col = tags.index("_rlnMicrographMovieName") if "_rlnMicrographMovieName" in tags else None
    resolver = _MetadataResolver(path)
    dataset = TrajectorySet(path=str(path), format="relion corrected_micrographs.star")
    row_keys: list[str] = []
    movie_names: list[str | None] = []
    fallback_col = movie_col if movie_col is not None else (
        name_col if name_col is not None else meta_col)
    if not rows:
        raise InputError(path, "the micrographs table is empty")
    if not read_movies:
        keys = [movie_key(gemmi.cif.as_string(row[fallback_col])) for row in rows]
        dataset.micrograph_table = RelionMicrographTable(
            str(path), _preamble(text, block_name, path), block_name, tags, rows, keys,
            [None] * len(rows), _optics(doc, escaped))
        return dataset
    recorded = [gemmi.cif.as_string(row[meta_col]) for row in rows]
    jobs: list[tuple[str, str | None]] = [
        (resolver.resolve(path), gemmi.cif.as_string(row[fallback_col]))
        for path, row in zip(recorded, rows, strict=True)]
    for i, item in enumerate(read_movie_stars(jobs, workers)):
        if isinstance(item, Problem) and item.reason == "missing_metadata":
            found = resolver.search(recorded[i])
            if found is not None:
                item = read_movie_star(found, jobs[i][1])
        dataset.add(item)
        row_keys.append(item.key)
        movie_names.append(item.movie_name if isinstance(item, Trajectory) else None)
    dataset.micrograph_table = RelionMicrographTable(
        path=str(path),
        preamble=_preamble(text, block_name, path),
        block_name=block_name,
        tags=tags,
        rows=rows,
        row_keys=row_keys,
        movie_names=movie_names,
        optics=_optics(doc, escaped),
    )
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

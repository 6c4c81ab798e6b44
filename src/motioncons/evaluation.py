"""Evaluation: options, pairing, deciding and the summary. Nothing is read or written here.

`prepare` pairs two read inputs into a `Comparison`: everything a decision needs, and nothing
more (the common samples of each comparable pair, the invalid pairs, what did not pair). A
`Comparison` is what ``consensus_data.npz`` stores, so that `decide_comparison` gives the same
decisions whether it runs right after reading (``run``) or later from the stored file
(``decide``).
"""

from __future__ import annotations

import math
import platform
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import gemmi
import numpy as np

from . import allocator
from ._version import installed_version
from .consensus import (
    AUTO_RMSE_MIN_MOVIES,
    CONVENTIONS,
    FITS,
    INVALID_REASONS,
    REASONS,
    Batch,
    ConventionEstimate,
    Measured,
    Results,
    RmseCalibration,
    Thresholds,
    calibrate_max_rmse,
    compare,
    estimate_and_measure,
    estimate_convention,
)
from .errors import MotionconsError, UsageError
from .formats.common import in_pixels
from .frames import CommonSamples, TooFewFrames, common_samples
from .matching import Matching, Pair, compile_match_regex, pair_sets
from .records import CSV_COLUMNS, Row, Summary
from .trajectory import Problem, Trajectory, TrajectorySet, joined_pixels, pixels

PIXEL_SIZE_TOLERANCE = 0.01
DECISIONS = ("accepted", "discarded")
PLOT_CHOICES = ("none", "discarded", "all")
"""Which movies get a per-movie overlay PNG (``--plots``)."""


@dataclass(frozen=True)
class Options:
    """Everything a run is told, with the command line's defaults.

    `motioncons.options` builds one from the command line's option names.

    Examples
    --------
    >>> Options(fit="rigid", thresholds=Thresholds(min_corr=0.8)).fit
    'rigid'
    """

    thresholds: Thresholds = field(default_factory=Thresholds)
    fit: str = "offset"
    convention: str = "auto"
    pixel_size: float | None = None
    keep_trajectories: bool = False
    """Keep each pair's reference and fitted secondary on the rows (for plots)."""
    plots: str = "discarded"
    """Per-movie overlay PNGs: ``none``, ``discarded`` or ``all``."""
    report: bool = True
    """Write ``summary.png`` and ``report.html``."""
    match_regex: str | None = None
    """Pair movies by the first group (or whole match) of this pattern on their names."""
    cryosparc_project_dir: str | None = None
    """The cryoSPARC project directory that ``.cs`` paths are relative to, when moved."""
    workers: int | None = None
    """Worker processes for reading and plotting (default: the cores, at most 8)."""
    early_frames: int = 4
    """Frames whose accumulated motion is the "early" motion (--max-early-motion)."""
    override: str | None = None
    """A CSV ``movie,decision`` of manual decisions, applied last."""

    @property
    def needs_trajectories(self) -> bool:
        return self.keep_trajectories or self.report or self.plots != "none"

    def decision_options(self) -> dict[str, Any]:
        """What a decision depends on besides the inputs (``decide`` may change these)."""
        t = self.thresholds
        return {"min_corr": t.min_corr, "min_range": t.min_range, "max_rmse": t.max_rmse_A,
                "max_error": t.max_error_A, "max_motion": t.max_motion_A,
                "max_early_motion": t.max_early_motion_A, "override": self.override}

    def validate(self) -> None:
        if self.plots not in PLOT_CHOICES:
            raise UsageError(f"--plots must be one of {', '.join(PLOT_CHOICES)}, not "
                             f"{self.plots!r}")
        if self.fit not in FITS:
            raise UsageError(f"--fit must be one of {', '.join(FITS)}, not {self.fit!r}")
        if self.convention != "auto" and self.convention not in CONVENTIONS:
            raise UsageError(f"--convention must be auto or one of {', '.join(CONVENTIONS)}, "
                             f"not {self.convention!r}")
        t = self.thresholds
        if not (math.isfinite(t.min_corr) and math.isfinite(t.min_range)):
            raise UsageError("--min-corr and --min-range must be numbers")
        if not -1.0 <= t.min_corr <= 1.0:
            raise UsageError(f"--min-corr must lie in [-1, 1], not {t.min_corr}")
        if t.min_range < 0:
            raise UsageError(f"--min-range must not be negative, not {t.min_range}")
        for name, value in (("--max-rmse", t.fixed_max_rmse_A()), ("--max-error", t.max_error_A),
                            ("--max-motion", t.max_motion_A),
                            ("--max-early-motion", t.max_early_motion_A),
                            ("--pixel-size", self.pixel_size)):
            if value is not None and not (isinstance(value, int | float) and value > 0
                                          and math.isfinite(value)):
                raise UsageError(f"{name} must be a positive number, not {value}")
        if not 2 <= self.early_frames <= 10_000:
            raise UsageError(f"--early-frames must be between 2 and 10000, not "
                             f"{self.early_frames}")
        if self.workers is not None and not 1 <= self.workers <= 256:
            raise UsageError(f"--jobs must be between 1 and 256, not {self.workers}")
        if self.match_regex is not None:
            compile_match_regex(self.match_regex)


def parse_max_rmse(value: str) -> float | str | None:
    """``--max-rmse``: a number of Å, ``auto`` or ``none``."""
    text = value.strip().lower()
    if text == "auto":
        return "auto"
    if text in ("none", "off"):
        return None
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"--max-rmse must be a number of Å, auto or none, not {value!r}") \
            from None


# --------------------------------------------------------------------------- pairing


@dataclass(slots=True)  # no __dict__: one per comparable movie
class ValidPair:
    """A pair that can be compared: its common samples and what its row reports."""

    key: str
    movie_name: str
    reference_path: str
    secondary_path: str
    samples: CommonSamples
    pixel_size: float | None
    motion_total_px: float = 0.0
    """The reference's accumulated motion (path length) over all its frames."""
    motion_early_px: float = 0.0
    """The same over its early frames. Two floats, not a tuple of them: 64 bytes less a pair."""

    @property
    def motion_px(self) -> tuple[float, float]:
        """The reference's accumulated motion: all frames, and the early frames."""
        return self.motion_total_px, self.motion_early_px

    @motion_px.setter
    def motion_px(self, motion: tuple[float, float]) -> None:
        self.motion_total_px, self.motion_early_px = motion


@dataclass
class Comparison:
    """Two inputs read and paired: everything a decision needs (see module docstring)."""

    valid: list[ValidPair]
    invalid: list[Row]
    only_in_reference: list[str]
    only_in_secondary: list[str]
    duplicates: list[str]
    inputs: dict[str, Any]
    notes: list[str]
    """Warnings about the inputs (not about decisions)."""
    reference_format: str
    table: object | None
    """The reference's table the subsets are cut from (RELION, cryoSPARC, Scipion)."""
    released: bool = False
    """The pairs' samples were released (`release_samples`): only their rows' facts remain."""

    def release_samples(self) -> None:
        """Drop the sample arrays of every comparable pair (see `decide_comparison`)."""
        for pair in self.valid:
            pair.samples = pair.samples.released()
        self.released = True


def accumulated_motions(trajectories: list[np.ndarray], early_frames: int,
                        chunk: int = 2048) -> list[tuple[float, float]]:
    """Path length of each trajectory (px): over all its frames, and over its first
    `early_frames` frames; vectorised over `chunk` trajectories at a time (bounded memory)."""
    return [motion for start in range(0, len(trajectories), chunk)
            for motion in _accumulated(trajectories[start: start + chunk], early_frames)]


def _accumulated(trajectories: list[np.ndarray], early_frames: int
                 ) -> list[tuple[float, float]]:
    if not trajectories:
        return []
    lengths = np.array([len(t) for t in trajectories], dtype=np.int64)
    if lengths[0] > 0 and lengths.min() == lengths.max():
        return _accumulated_equal(trajectories, int(lengths[0]), early_frames)
    return _accumulated_ragged(trajectories, lengths, early_frames)


def _accumulated_equal(trajectories: list[np.ndarray], frames: int, early_frames: int
                       ) -> list[tuple[float, float]]:
    """`_accumulated` of trajectories of `frames` frames each (most chunks): the steps as a
    (n, frames) array, the last of each row 0, summed by the same `reduceat` (so the same
    floats) without working out each step's movie and position (a third less time)."""
    shifts = joined_pixels(trajectories).reshape(len(trajectories), frames, 2)
    steps = np.zeros((len(trajectories), frames))
    moves = np.diff(shifts, axis=1)
    np.hypot(moves[..., 0], moves[..., 1], out=steps[:, :frames - 1])
    starts = np.arange(0, steps.size, frames)
    total = np.add.reduceat(steps.ravel(), starts)
    steps[:, early_frames - 1:] = 0.0
    early = np.add.reduceat(steps.ravel(), starts)
    return list(zip(total.tolist(), early.tolist(), strict=True))


def _accumulated_ragged(trajectories: list[np.ndarray], lengths: np.ndarray,
                        early_frames: int) -> list[tuple[float, float]]:
    shifts = joined_pixels(trajectories)
    steps = np.hypot(*np.diff(shifts, axis=0, append=shifts[-1:]).T)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    position = np.arange(len(shifts)) - np.repeat(starts, lengths)
    last = position == np.repeat(lengths - 1, lengths)
    steps[last] = 0.0  # from a movie's last frame to the next movie's first: not a step
    total = np.add.reduceat(steps, starts)
    early = np.add.reduceat(np.where(position < early_frames - 1, steps, 0.0), starts)
    return list(zip(total.tolist(), early.tolist(), strict=True))


def _invalid_row(pair: Pair, reason: str, message: str, options: Options) -> Row:
    return Row(movie=pair.key, decision="discarded", reason=reason,
               reference_path=pair.reference.source, secondary_path=pair.secondary.source,
               fit=options.fit, movie_name=pair.reference.movie_name, message=message)


def split_pairs(pairs: list[Pair], options: Options, consume: bool = False
                ) -> tuple[list[ValidPair], list[Row]]:
    """Pairs that can be compared, and rows for those that cannot (decided as invalid).

    With `consume`, `pairs` is emptied as it goes, so that each pair's trajectories can be
    freed as soon as what replaces them is made (see `prepare`)."""
    valid: list[ValidPair] = []
    invalid: list[Row] = []
    references: list[np.ndarray] = []
    for pair in _taken(pairs) if consume else pairs:
        ref, sec = pair.reference, pair.secondary
        if isinstance(ref, Problem) or isinstance(sec, Problem):
            problems = pair.problems
            message = " | ".join(p.message for p in problems)
            invalid.append(_invalid_row(pair, problems[0].reason, message, options))
            continue
        # A side's own pixel size, else the other's, else --pixel-size.
        pixel_size = ref.pixel_size or sec.pixel_size or options.pixel_size
        if ref.extras.get("needs_pixel_size") or sec.extras.get("needs_pixel_size"):
            ref, sec = in_pixels(ref, sec.pixel_size), in_pixels(sec, ref.pixel_size)
            unresolved = next((t for t in (ref, sec) if t.extras.get("needs_pixel_size")), None)
            if unresolved is not None:
                invalid.append(_invalid_row(pair, "unreadable", f"{unresolved.source}: shifts "
                                            "in Å and no pixel size (give --pixel-size)",
                                            options))
                continue
        try:
            samples = common_samples(ref, sec)
        except TooFewFrames as exc:
            message = f"{ref.source} vs {sec.source}: {exc}"
            invalid.append(_invalid_row(pair, "too_few_frames", message, options))
            continue
        valid.append(ValidPair(pair.key, ref.movie_name, ref.source, sec.source, samples,
                               pixel_size))
        references.append(ref.stored_shifts)
    for comparable, motion in zip(valid, accumulated_motions(references, options.early_frames),
                                  strict=True):
        comparable.motion_px = motion
    return valid, invalid


def _taken(pairs: list[Pair]) -> Iterator[Pair]:
    """`pairs` in order, each dropped from the list as it is given."""
    pairs.reverse()
    while pairs:
        yield pairs.pop()


def _pixel_size_warnings(mismatched: list[tuple[str, float, float]]) -> list[str]:
    if not mismatched:
        return []
    key, ref_size, sec_size = mismatched[0]
    return [f"pixel sizes disagree for {len(mismatched)} movie(s), e.g. {key}: reference "
            f"{ref_size:g} Å, secondary {sec_size:g} Å (the reference's is used for Å values)"]


def pixel_size_sources(pairs: list[Pair]) -> dict[str, int]:
    """How many trajectories took their pixel size from the file, the paired movie of the other
    input, or ``--pixel-size`` (formats that store none: IMOD, cisTEM, WarpTools JSON, tables)."""
    return _pixel_sizes(pairs)[0]


def _pixel_sizes(pairs: list[Pair]) -> tuple[dict[str, int], list[tuple[str, float, float]]]:
    """`pixel_size_sources`, and the pairs whose sides' pixel sizes disagree (key, reference's,
    secondary's), in one pass. A pair's sources follow from its sides' extras and whether
    each has a pixel size: the pairs are counted by those (a session's movies share one
    extras dict), and each kind's sources are worked out once."""
    kinds: dict[tuple[int | None, int | None, bool, bool], int] = {}
    extras_of: dict[int, dict[str, Any]] = {}
    mismatched = []
    for pair in pairs:
        ref, sec = pair.reference, pair.secondary
        ref_size = ref_extras = sec_size = sec_extras = None
        if isinstance(ref, Trajectory):
            ref_size, ref_extras = ref.pixel_size, id(ref.extras)
            extras_of[ref_extras] = ref.extras
        if isinstance(sec, Trajectory):
            sec_size, sec_extras = sec.pixel_size, id(sec.extras)
            extras_of[sec_extras] = sec.extras
        if ref_size and sec_size and ref_size != sec_size and \
                abs(ref_size - sec_size) > PIXEL_SIZE_TOLERANCE * ref_size:
            mismatched.append((pair.key, ref_size, sec_size))
        kind = (ref_extras, sec_extras, bool(ref_size), bool(sec_size))
        kinds[kind] = kinds.get(kind, 0) + 1
    counts: dict[str, int] = {}
    for (ref_extras, sec_extras, ref_has, sec_has), n in kinds.items():
        for side, has, partner, partner_has in ((ref_extras, ref_has, sec_extras, sec_has),
                                                (sec_extras, sec_has, ref_extras, ref_has)):
            if side is None:
                continue
            extras = extras_of[side]
            if extras.get("needs_pixel_size") and partner is not None and partner_has:
                source = "paired movie"  # see formats.common.in_pixels
            else:
                source = str(extras.get("pixel_size_from", "file" if has else "unknown"))
            counts[source] = counts.get(source, 0) + n
    return counts, mismatched


def _input_summary(dataset: TrajectorySet) -> dict[str, Any]:
    return {"path": dataset.path, "format": dataset.format,
            "movies": len(dataset.trajectories) + len(dataset.problems),
            "readable": len(dataset.trajectories), "problems": len(dataset.problems),
            "notes": dataset.notes}


def input_summaries(reference: TrajectorySet, secondary: TrajectorySet) -> dict[str, Any]:
    return {"reference": _input_summary(reference), "secondary": _input_summary(secondary)}


def prepare(reference: TrajectorySet, secondary: TrajectorySet, options: Options,
            notes: list[str] | None = None, release_inputs: bool = False) -> Comparison:
    """Pair two read inputs; `notes` are warnings about them found while reading.

    With `release_inputs`, for a caller that read the inputs for this comparison only, their
    trajectories are handed over: the two sets' lists are emptied, and each pair's
    trajectories are freed as soon as what replaces them is made, so that it is made in their
    memory (24 MB less at the peak of a run of 100,000 movies)."""
    options.validate()
    matching = pair_sets(reference, secondary)
    if not matching.pairs:
        raise MotionconsError(_no_pairs_message(reference, secondary))
    pairs = matching.pairs
    sources, mismatched = _pixel_sizes(pairs)
    notes = [*(notes or []), *_pixel_size_warnings(mismatched)]
    inputs = input_summaries(reference, secondary)
    if release_inputs:
        reference.trajectories, secondary.trajectories = [], []
    valid, invalid = split_pairs(pairs, options, consume=release_inputs)
    for dataset in (reference, secondary):
        notes += dataset.notes
    if matching.only_in_reference or matching.only_in_secondary:
        notes.append(f"{len(matching.only_in_reference)} movie(s) only in the reference, "
                     f"{len(matching.only_in_secondary)} only in the secondary "
                     f"(e.g. {_examples(matching)}); listed in summary.json")
    if matching.duplicates:
        notes.append(f"{len(matching.duplicates)} duplicate movie key(s), first one used: "
                     f"{', '.join(matching.duplicates[:3])}")
    if set(sources) - {"file"}:
        notes.append("pixel sizes: " + ", ".join(f"{n} from {k}" for k, n in sources.items())
                     + " (trajectories counted once per input)")
    return Comparison(valid, invalid, matching.only_in_reference, matching.only_in_secondary,
                      matching.duplicates, inputs, notes, reference.format,
                      reference.micrograph_table)


def _examples(matching: Matching) -> str:
    return ", ".join([*matching.only_in_reference[:2], *matching.only_in_secondary[:2]])


def _no_pairs_message(reference: TrajectorySet, secondary: TrajectorySet) -> str:
    ref_keys = sorted(reference.keys())[:3]
    sec_keys = sorted(secondary.keys())[:3]
    return (f"no movie is present in both inputs ({reference.path}: {len(reference.keys())} "
            f"movies, e.g. {', '.join(ref_keys) or 'none'}; {secondary.path}: "
            f"{len(secondary.keys())} movies, e.g. {', '.join(sec_keys) or 'none'})")


# --------------------------------------------------------------------------- deciding


def make_batch(valid: list[ValidPair]) -> Batch:
    return Batch.from_samples([v.samples.reference for v in valid],
                              [v.samples.secondary for v in valid],
                              [v.pixel_size for v in valid],
                              np.array([(v.motion_total_px, v.motion_early_px) for v in valid],
                                       dtype=np.float64).reshape(-1, 2))


def _check_units(valid: list[ValidPair], thresholds: Thresholds) -> None:
    if all(value is None for value in (thresholds.fixed_max_rmse_A(), thresholds.max_error_A,
                                       thresholds.max_motion_A, thresholds.max_early_motion_A)):
        return
    unknown = [v.key for v in valid if v.pixel_size is None]
    if unknown:
        raise UsageError(f"--max-rmse/--max-error/--max-motion are in Å but {len(unknown)} "
                         f"movie(s) have no pixel size (e.g. {unknown[0]}); give --pixel-size")


def uses_auto_rmse(options: Options) -> bool:
    """``auto`` applies to the offset and rigid fits; ``xmipp`` keeps the original's rule."""
    return options.thresholds.rmse_is_auto and options.fit != "xmipp"


def decide_pairs(valid: list[ValidPair], options: Options, convention: str,
                 batch: Batch | None = None, frozen_rmse_px: float | None = None
                 ) -> tuple[list[Row], RmseCalibration | None]:
    """Decide the comparable pairs (`batch`, if given, must hold exactly them, in order).

    With ``--max-rmse auto`` the threshold is calibrated on these pairs, unless
    `frozen_rmse_px` gives the one already fixed (``watch``).
    """
    if not valid:
        return [], None
    results, calibration = _results(valid, options, convention,
                                    batch if batch is not None else make_batch(valid),
                                    frozen_rmse_px)
    return _rows(valid, results, options, convention), calibration


def _results(valid: list[ValidPair], options: Options, convention: str, batch: Batch,
             frozen_rmse_px: float | None = None, measured: Measured | None = None
             ) -> tuple[Results, RmseCalibration | None]:
    """`decide_pairs`' metrics and decisions, before they become rows (the metrics
    `estimate_and_measure` found, if given)."""
    thresholds = options.thresholds
    _check_units(valid, thresholds)
    calibration = None
    if thresholds.rmse_is_auto:
        thresholds = replace(thresholds, max_rmse_A=None)
    results = compare(batch, thresholds, options.fit, convention,
                      keep_fitted=options.needs_trajectories, measured=measured)
    if uses_auto_rmse(options):
        assert results.low_motion is not None
        calibration = (calibrate_max_rmse(results.rmse_px, ~results.low_motion)
                       if frozen_rmse_px is None else
                       RmseCalibration(frozen_rmse_px, None, None, 0, "frozen"))
        results = results.redecide(batch, replace(thresholds,
                                                  max_rmse_px=calibration.threshold_px))
    return results, calibration


@dataclass
class Basis:
    """What streamed decisions are fixed on once enough movies move: the dataset's axis
    convention and the ``auto`` RMSE limit (each None when the options do not use it)."""

    estimate: ConventionEstimate | None
    calibration: RmseCalibration | None


def fix_basis(pairs: list[Pair], options: Options, freeze_after: int, final: bool,
              estimate: ConventionEstimate | None = None) -> Basis | str:
    """The basis for deciding `pairs` as they arrive, or what it still waits for.

    Nothing can be decided before the convention is estimated on `freeze_after` moving movies
    (and, with ``--max-rmse auto``, the limit calibrated on enough of them), unless `final`:
    then on what there is. `estimate` is one already fixed.
    """
    auto = uses_auto_rmse(options)
    if options.fit == "xmipp" or (estimate is not None and not auto):
        return Basis(estimate, None)
    valid, _ = split_pairs(pairs, options)
    estimate = estimate or estimate_convention(make_batch(valid), options.thresholds.min_range,
                                               options.convention)
    if not final and options.convention == "auto" and estimate.moving_pairs < freeze_after:
        return (f"waiting for {freeze_after} moving movies to fix the axis convention: "
                f"{estimate.moving_pairs} so far")
    calibration = None
    if auto:
        calibration = decide_pairs(valid, replace(options, plots="none", report=False),
                                   estimate.name)[1]
        if not final and (calibration is None or calibration.movies < AUTO_RMSE_MIN_MOVIES):
            return (f"waiting for {AUTO_RMSE_MIN_MOVIES} moving movies to calibrate "
                    f"--max-rmse auto: {0 if calibration is None else calibration.movies} so far")
    return Basis(estimate, calibration)


DECIDED_FIELDS = CSV_COLUMNS
"""The fields `_rows` gives a decided row, by position: the CSV's columns, which are `Row`'s
first fields in its order (a test checks it)."""


def _rows(valid: list[ValidPair], results: Results, options: Options,
          convention: str, chunk: int = 4096) -> list[Row]:
    """One row per pair; the columns are turned into Python numbers once, not per value, a
    `chunk` of rows at a time (the lists of 50,000 rows at once took 10 MB more)."""
    ranges = (results.axis_ranges if results.axis_ranges is not None
              else np.full((len(valid), 4), np.nan))
    shown_convention = "" if options.fit == "xmipp" else convention
    keep = options.needs_trajectories
    reasons: dict[str, str] = {}  # one string object a reason, not one a row
    rows = []
    for start in range(0, len(valid), chunk):
        part = slice(start, start + chunk)
        columns = zip(
            results.accepted[part].tolist(), results.reason[part].tolist(),
            results.corr[part].tolist(), results.corr_x[part].tolist(),
            results.corr_y[part].tolist(), results.rmse_px[part].tolist(),
            results.max_error_px[part].tolist(), results.range_ref_px[part].tolist(),
            results.range_sec_px[part].tolist(), results.frames[part].tolist(),
            results.rotation_deg[part].tolist(), ranges[part].tolist(), strict=True)
        for item, (accepted, reason, corr, corr_x, corr_y, rmse, max_error, range_ref,
                   range_sec, frames, rotation, axis) in zip(valid[part], columns, strict=True):
            pixel = math.nan if item.pixel_size is None else item.pixel_size
            # By position, in the order of `DECIDED_FIELDS`: 0.5 µs a row, 2.7 by keyword.
            row = Row(
                item.key, "accepted" if accepted else "discarded",
                reasons.setdefault(reason, str(reason)), corr, corr_x, corr_y, rmse, max_error,
                rmse * pixel, abs(max_error) * pixel, range_ref, range_sec, int(frames),
                item.reference_path, item.secondary_path, options.fit, shown_convention,
                rotation, item.samples.resampled, pixel, item.movie_name, "", "",
                item.motion_total_px * pixel, item.motion_early_px * pixel, *axis)
            rows.append(row)
        if keep:
            _keep_trajectories(rows[start:], valid[part], results.fitted[part])
    return rows


def _keep_trajectories(rows: list[Row], valid: list[ValidPair], fitted: list[np.ndarray]
                       ) -> None:
    """Each row's reference trajectory in pixels, fitted secondary and frames (for its figures
    and the report). Reference shifts held as millionths are turned into pixels by one
    division of them all, each row given its slice (one division a row: 0.27 s at 50,000
    movies)."""
    held = [item.samples.reference for item in valid]
    joined = None
    if held and all(shifts.dtype == np.int32 for shifts in held):
        joined = pixels(np.concatenate(held))
    end = 0
    for row, item, shifts, secondary in zip(rows, valid, held, fitted, strict=True):
        start, end = end, end + len(shifts)
        row.reference_shifts = joined[start:end] if joined is not None else pixels(shifts)
        row.secondary_fitted = secondary
        row.sample_frames = item.samples.frames


def apply_overrides(rows: list[Row], overrides: dict[str, str]) -> list[str]:
    """Manual decisions, applied last (reason ``manual``); warnings for unknown movies."""
    if not overrides:
        return []
    by_movie = {row.movie: row for row in rows}
    by_name = {row.movie_name: row for row in rows if row.movie_name}
    unknown = []
    for movie, decision in overrides.items():
        row = by_movie.get(movie) or by_name.get(movie)
        if row is None:
            unknown.append(movie)
            continue
        row.decided_reason = row.decided_reason or row.reason
        row.decision, row.reason = decision, "manual"
    if not unknown:
        return []
    return [f"{len(unknown)} manual decision(s) name movies that are not in this dataset "
            f"(e.g. {', '.join(unknown[:3])})"]


@dataclass
class Decision:
    rows: list[Row]
    estimate: ConventionEstimate | None
    calibration: RmseCalibration | None
    warnings: list[str]


def decide_comparison(comparison: Comparison, options: Options,
                      overrides: dict[str, str] | None = None,
                      release_samples: bool = False) -> Decision:
    """Every pair of `comparison` decided, sorted by movie key, with the warnings.

    With `release_samples`, for a caller that needs the comparison for nothing else, the
    pairs' samples are released once their metrics are computed (the peak memory of a large
    run): before the rows are built, or after when the rows keep trajectories (see
    `Options.needs_trajectories`; each row then holds its own). The comparison can then be
    neither decided nor stored again (`Comparison.released`).
    """
    options.validate()
    if comparison.released:
        raise ValueError("this comparison's samples were released when it was decided")
    valid = comparison.valid
    batch = make_batch(valid)
    estimate = measured = None
    convention = "identity"
    if options.fit != "xmipp":
        estimate, measured = estimate_and_measure(batch, options.thresholds.min_range,
                                                  options.convention, options.fit,
                                                  options.needs_trajectories)
        convention = estimate.name
    decided, calibration = [], None
    if valid:
        results, calibration = _results(valid, options, convention, batch, measured=measured)
        del measured
        del batch
        if release_samples and not options.needs_trajectories:
            comparison.release_samples()
        allocator.release_free()  # the batch's temporaries, before the rows take new memory
        decided = _rows(valid, results, options, convention)
        if release_samples and not comparison.released:
            comparison.release_samples()
    rows = sorted(decided + [replace(r) for r in comparison.invalid], key=lambda r: r.movie)
    warnings = [*(estimate.warnings if estimate else []), *comparison.notes,
                *apply_overrides(rows, overrides or {})]
    return Decision(rows, estimate, calibration, warnings)


# --------------------------------------------------------------------------- summary


def versions() -> dict[str, str]:
    return {"motioncons": installed_version(), "python": platform.python_version(),
            "numpy": np.__version__, "gemmi": str(getattr(gemmi, "__version__", "unknown"))}


def median_pixel_size(rows: list[Row]) -> float | None:
    sizes = [r.pixel_size_A for r in rows if math.isfinite(r.pixel_size_A)]
    return float(np.median(sizes)) if sizes else None


def build_summary(inputs: dict[str, Any], only_in_reference: list[str],
                  only_in_secondary: list[str], duplicates: list[str], rows: list[Row],
                  options: Options, estimate: ConventionEstimate | None,
                  warnings: list[str], calibration: RmseCalibration | None = None
                  ) -> Summary:
    """Everything `summary.json` says; deterministic for the same decisions (no timings)."""
    only_in_reference, only_in_secondary = sorted(only_in_reference), sorted(only_in_secondary)
    reasons: dict[str, int] = {}
    for row in rows:
        reasons[row.reason] = reasons.get(row.reason, 0) + 1
    t = options.thresholds
    pixel = median_pixel_size(rows)
    max_rmse_A = t.fixed_max_rmse_A()
    if calibration is not None and pixel is not None:
        max_rmse_A = calibration.threshold_px * pixel
    return {
        "motioncons": versions()["motioncons"],
        "parameters": {"min_corr": t.min_corr, "min_range_px": t.min_range,
                       "max_rmse": t.max_rmse_A if options.fit != "xmipp" or
                       not t.rmse_is_auto else None,
                       "max_rmse_A": max_rmse_A,
                       "max_rmse_px": calibration.threshold_px if calibration else None,
                       "max_error_A": t.max_error_A, "max_motion_A": t.max_motion_A,
                       "max_early_motion_A": t.max_early_motion_A,
                       "early_frames": options.early_frames, "override": options.override,
                       "fit": options.fit, "convention": options.convention,
                       "pixel_size_A": options.pixel_size},
        "max_rmse_calibration": calibration.as_dict(pixel) if calibration else None,
        "inputs": inputs,
        "counts": {"paired": len(rows),
                   "accepted": sum(1 for r in rows if r.accepted),
                   "discarded": sum(1 for r in rows if not r.accepted),
                   "only_in_reference": len(only_in_reference),
                   "only_in_secondary": len(only_in_secondary),
                   "invalid": sum(1 for r in rows if r.reason in INVALID_REASONS),
                   "duplicates": len(duplicates)},
        "reasons": {code: reasons[code] for code in REASONS if code in reasons},
        "reason_meanings": {code: REASONS[code] for code in REASONS if code in reasons},
        "convention": estimate.as_dict() if estimate else None,
        "warnings": warnings,
        "only_in_reference": only_in_reference,
        "only_in_secondary": only_in_secondary,
        "duplicates": duplicates,
        "versions": versions(),
    }


def summary_of(comparison: Comparison, decision: Decision, options: Options
               ) -> Summary:
    return build_summary(comparison.inputs, comparison.only_in_reference,
                         comparison.only_in_secondary, comparison.duplicates, decision.rows,
                         options, decision.estimate, decision.warnings, decision.calibration)


def evaluate(reference: TrajectorySet, secondary: TrajectorySet, options: Options,
             overrides: dict[str, str] | None = None) -> Decision:
    """Pair and decide two read inputs, in memory."""
    return decide_comparison(prepare(reference, secondary, options), options, overrides)

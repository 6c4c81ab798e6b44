"""Fit, metrics and decision (DESIGN §4). Pure numpy, vectorised over batches of pairs; no I/O.

A batch holds N pairs padded to a common length F: ``ref`` and ``sec`` of shape (N, 2, F) (x and
y rows, frames contiguous so that every reduction runs along the last axis) and a boolean ``mask``
(N, F) of the samples that exist. Every reduction honours the mask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .trajectory import joined_pixels

FITS = ("offset", "rigid", "xmipp")

# The 8 symmetries of the square, as matrices applied to a secondary (x, y) column vector.
CONVENTIONS: dict[str, np.ndarray] = {
    "identity": np.array([[1.0, 0.0], [0.0, 1.0]]),
    "flip_x": np.array([[-1.0, 0.0], [0.0, 1.0]]),
    "flip_y": np.array([[1.0, 0.0], [0.0, -1.0]]),
    "rotate_180": np.array([[-1.0, 0.0], [0.0, -1.0]]),
    "transpose": np.array([[0.0, 1.0], [1.0, 0.0]]),
    "rotate_90": np.array([[0.0, -1.0], [1.0, 0.0]]),
    "rotate_270": np.array([[0.0, 1.0], [-1.0, 0.0]]),
    "anti_transpose": np.array([[0.0, -1.0], [-1.0, 0.0]]),
}
CONVENTION_NAMES = tuple(CONVENTIONS)
DENSE_CHUNK = 1024
"""Pairs computed on at once: the arrays of a chunk stay about 1 MB whatever the dataset's size
(4,096 were as fast, and 3-5 MB higher at the peak of a run of 100,000 movies)."""

# Below this standard deviation (px) an axis of a trajectory counts as perfectly flat.
_FLAT_STD = 1e-9
# A dataset-level scale outside this band points at a binning or unit error.
SCALE_WARN_BAND = (0.8, 1.25)
MIN_MOVING_FOR_CONVENTION = 3

ACCEPT_REASONS = ("agree", "low_motion")
INVALID_REASONS = ("unreadable", "missing_metadata", "nan_shifts", "too_few_frames")
"""Pairs that could not be compared: discarded whatever the thresholds."""
REASONS = {
    "agree": "the two trajectories agree within every threshold",
    "low_motion": "both trajectories move less than --min-range on every axis: not compared",
    "low_correlation": "the trajectories' shapes differ: score below --min-corr",
    "high_rmse": "the trajectories are too far apart on average: RMSE above --max-rmse",
    "high_max_error": "some frame is too far off: largest per-frame error above --max-error",
    "excess_motion": "the reference moved more than --max-motion (or --max-early-motion) Å",
    "manual": "decided by hand (--override)",
    "nan_correlation": "xmipp fit: the correlation is undefined (a flat trajectory)",
    "too_few_frames": "fewer than 3 frames in common",
    "unreadable": "a result file could not be read or is incomplete",
    "missing_metadata": "the per-movie motion file listed in the input does not exist",
    "nan_shifts": "NaN or infinite shifts in a result file",
}


AUTO = "auto"
AUTO_RMSE_K = 5.0
"""`--max-rmse auto`: median + AUTO_RMSE_K robust standard deviations (1.4826 MAD) ..."""
AUTO_RMSE_FLOOR_PX = 1.0
"""... but never below this (px): a dataset that agrees very tightly keeps its fine movies ..."""
AUTO_RMSE_MIN_MOVIES = 20
"""... computed from at least this many moving movies; with fewer, the floor alone applies."""


@dataclass(frozen=True)
class Thresholds:
    """The decision's limits (docs/decisions.md); ``max_rmse_A="auto"`` is calibrated on the
    dataset, None switches a criterion off.

    Examples
    --------
    >>> Thresholds(min_corr=0.9, max_rmse_A=None, max_motion_A=40.0).max_motion_A
    40.0
    """

    min_corr: float = 0.75
    min_range: float = 3.0
    max_rmse_A: float | str | None = AUTO
    """Å, ``auto`` (calibrated on the dataset, see `calibrate_max_rmse`) or None (off)."""
    max_error_A: float | None = None
    max_motion_A: float | None = None
    """The reference's accumulated motion (path length over all frames), Å."""
    max_early_motion_A: float | None = None
    """The reference's accumulated motion over the first `early_frames` frames, Å."""
    max_rmse_px: float | None = None
    """The resolved ``auto`` RMSE threshold in px (set by the pipeline, not by users)."""

    @property
    def rmse_is_auto(self) -> bool:
        return self.max_rmse_A == AUTO

    def fixed_max_rmse_A(self) -> float | None:
        return None if self.max_rmse_A == AUTO else self.max_rmse_A  # type: ignore[return-value]


@dataclass(frozen=True)
class RmseCalibration:
    """How ``--max-rmse auto`` was resolved on a dataset."""

    threshold_px: float
    median_px: float | None
    mad_px: float | None
    movies: int
    """Moving movies the statistics came from."""
    rule: str

    def as_dict(self, pixel_size: float | None) -> dict[str, Any]:
        return {"threshold_px": self.threshold_px,
                "threshold_A": None if pixel_size is None else self.threshold_px * pixel_size,
                "median_px": self.median_px, "mad_px": self.mad_px, "movies": self.movies,
                "k": AUTO_RMSE_K, "floor_px": AUTO_RMSE_FLOOR_PX,
                "min_movies": AUTO_RMSE_MIN_MOVIES, "rule": self.rule}


def calibrate_max_rmse(rmse_px: np.ndarray, moving: np.ndarray) -> RmseCalibration:
    """The ``auto`` RMSE threshold: a robust outlier rule on the moving movies' RMSE (px).

    threshold = max(floor, median + k · 1.4826 · MAD) over the movies that move (and have a
    finite RMSE); with fewer than AUTO_RMSE_MIN_MOVIES of them, the floor alone.
    """
    values = np.asarray(rmse_px, dtype=np.float64)[np.asarray(moving, dtype=bool)]
    values = values[np.isfinite(values)]
    if values.size < AUTO_RMSE_MIN_MOVIES:
        return RmseCalibration(AUTO_RMSE_FLOOR_PX, None, None, int(values.size),
                               f"fewer than {AUTO_RMSE_MIN_MOVIES} moving movies: the floor "
                               f"{AUTO_RMSE_FLOOR_PX:g} px")
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median)))
    threshold = max(AUTO_RMSE_FLOOR_PX, median + AUTO_RMSE_K * 1.4826 * mad)
    rule = (f"median {median:.3g} px + {AUTO_RMSE_K:g} x 1.4826 x MAD {mad:.3g} px over "
            f"{values.size} moving movies, at least {AUTO_RMSE_FLOOR_PX:g} px")
    return RmseCalibration(float(threshold), median, mad, int(values.size), rule)


@dataclass
class Batch:
    """Pairs to compare: each pair's common samples, (K, 2) reference and secondary (float64
    pixels, or int32 millionths of a pixel as `trajectory.CompactTrajectory` holds them).

    Kept as the pairs' own arrays: the computations stack them a chunk of equal-length pairs at
    a time (`_dense_chunks`), so that no padded copy of the whole dataset is ever made."""

    refs: list[np.ndarray]
    secs: list[np.ndarray]
    pixel_size: np.ndarray
    """(N,) Å per pixel, NaN where unknown."""
    motion: np.ndarray | None = None
    """(N, 2) the reference's accumulated motion, total and early (px), NaN where unknown."""
    lengths: np.ndarray = field(init=False)
    """(N,) samples per pair."""

    def __post_init__(self) -> None:
        self.lengths = np.fromiter((r.shape[0] for r in self.refs), dtype=np.int64,
                                   count=len(self.refs))

    @classmethod
    def from_samples(cls, refs: list[np.ndarray], secs: list[np.ndarray],
                     pixel_sizes: list[float | None],
                     motion: np.ndarray | None = None) -> Batch:
        sizes = np.array([np.nan if p is None else p for p in pixel_sizes], dtype=np.float64)
        return cls(list(refs), list(secs), sizes, motion)

    def __len__(self) -> int:
        return len(self.refs)

    def select(self, index: np.ndarray) -> Batch:
        chosen = np.arange(len(self))[index].tolist()
        return Batch([self.refs[i] for i in chosen], [self.secs[i] for i in chosen],
                     self.pixel_size[index], None if self.motion is None else self.motion[index])

    def padded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, 2, F) reference and secondary, zero after each pair's last sample, and the
        (N, F) mask of the real samples (the original's movie-by-movie arithmetic)."""
        n, lengths = len(self), self.lengths
        length = int(lengths.max()) if n else 0
        ref, sec = np.zeros((n, 2, length)), np.zeros((n, 2, length))
        mask = np.zeros((n, length), dtype=bool)
        if n:
            row = np.repeat(np.arange(n), lengths)
            column = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths,
                                                                lengths)
            ref[row, :, column] = joined_pixels(self.refs)
            sec[row, :, column] = joined_pixels(self.secs)
            mask[row, column] = True
        return ref, sec, mask

    def motion_A(self) -> tuple[np.ndarray, np.ndarray]:
        motion = self.motion if self.motion is not None else np.full((len(self), 2), np.nan)
        return motion[:, 0] * self.pixel_size, motion[:, 1] * self.pixel_size


@dataclass
class Results:
    """Per-pair metrics; every array has shape (N,)."""

    corr: np.ndarray
    corr_x: np.ndarray
    corr_y: np.ndarray
    rmse_px: np.ndarray
    max_error_px: np.ndarray
    range_ref_px: np.ndarray
    range_sec_px: np.ndarray
    frames: np.ndarray
    rotation_deg: np.ndarray
    accepted: np.ndarray
    reason: np.ndarray
    fitted: list[np.ndarray] = field(default_factory=list)
    """The secondary after the fit actually used, (K, 2) per pair, when requested."""
    low_motion: np.ndarray | None = None
    """Not compared because nothing moves (`xmipp`: the original's range gate)."""
    axis_ranges: np.ndarray | None = None
    """(N, 4) per-axis motion ranges: reference x, y, fitted secondary x, y (px)."""
    nan_reason: str = "low_correlation"

    def redecide(self, batch: Batch, thresholds: Thresholds) -> Results:
        """The same metrics decided with other magnitude and motion thresholds (same
        --min-range: the correlation and the low-motion test depend on it)."""
        assert self.low_motion is not None, "set by compare"
        accepted, reason = decide_metrics(self.corr, self.low_motion, self.rmse_px,
                                          self.max_error_px, batch, thresholds, self.nan_reason)
        return replace(self, accepted=accepted, reason=reason)



@dataclass(frozen=True)
class ConventionEstimate:
    name: str
    """The convention applied to every secondary trajectory."""
    estimated: str
    """What the data say (may differ from `name` when the user forced one)."""
    forced: bool
    moving_pairs: int
    votes: dict[str, int]
    scale: float | None
    """Median least-squares scale of the secondary onto the reference, after the convention."""
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {"applied": self.name, "estimated": self.estimated, "forced": self.forced,
                "moving_pairs": self.moving_pairs, "votes": self.votes,
                "scale": self.scale, "note": self.note,
                "matrix": CONVENTIONS[self.name].tolist()}

    @property
    def warnings(self) -> list[str]:
        out = []
        if self.estimated != "identity" and self.moving_pairs:
            action = ("applied" if self.name == self.estimated
                      else f"not applied ({self.name} forced)")
            out.append(f"the secondary trajectories match the reference best after "
                       f"'{self.estimated}' ({self.votes.get(self.estimated, 0)} of "
                       f"{self.moving_pairs} moving movies): {action}. A flipped or rotated gain "
                       "reference or a different axis convention between the two programs?")
        if self.scale is not None and not SCALE_WARN_BAND[0] <= self.scale <= SCALE_WARN_BAND[1]:
            out.append(f"the secondary trajectories are {self.scale:.3g}x the reference in size "
                       "(median over moving movies): a binning or unit (px vs Å) mismatch?")
        return out


# --------------------------------------------------------------------------- masked helpers


def axis_ranges(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Peak-to-peak per axis, (N, 2)."""
    m = mask[:, None, :]
    return np.where(m, values, -np.inf).max(axis=2) - np.where(m, values, np.inf).min(axis=2)


def _apply_matrix(values: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x2 matrix to every (x, y) column of (N, 2, F) values."""
    return np.einsum("ij,njf->nif", matrix, values)


def _sum_squares(values: np.ndarray) -> np.ndarray:
    return np.einsum("nkf,nkf->n", values, values)


# --------------------------------------------------------------------------- convention


def estimate_convention(batch: Batch, min_range: float, forced: str = "auto") -> ConventionEstimate:
    """Which of the 8 axis symmetries maps the secondaries onto the references, dataset-wide.

    Each movie that moves in both inputs votes for the symmetry with the smallest residual after
    removing a constant offset; the winner needs a majority of at least 3 moving movies to be
    preferred over the identity.
    """
    return _estimate(batch, min_range, forced)[0]


Measured = list[tuple[np.ndarray, tuple]]
"""`compare`'s metrics of each dense chunk: (the chunk's indices in the batch, its metrics)."""


def estimate_and_measure(batch: Batch, min_range: float, forced: str, fit: str,
                         keep_fitted: bool) -> tuple[ConventionEstimate, Measured | None]:
    """`estimate_convention`, and `compare`'s metrics under its convention in the same pass
    over the pairs (stacking them costs as much as the maths) when it is the one guessed
    beforehand (the forced one, or the identity); None when it is not."""
    def measure(ref: np.ndarray, sec: np.ndarray, convention: str) -> tuple:
        return _dense_metrics(ref, sec, fit, CONVENTIONS[convention], keep_fitted)

    return _estimate(batch, min_range, forced, measure)


def _estimate(batch: Batch, min_range: float, forced: str,
              measure: Callable[[np.ndarray, np.ndarray, str], tuple] | None = None
              ) -> tuple[ConventionEstimate, Measured | None]:
    if forced != "auto" and forced not in CONVENTIONS:
        raise ValueError(f"unknown convention {forced!r}; choose auto or one of "
                         f"{', '.join(CONVENTION_NAMES)}")
    votes = {name: 0 for name in CONVENTION_NAMES}
    scale = None
    estimated = "identity"
    note = "no movie moves more than --min-range in both inputs; identity assumed"
    # The scale is wanted after the convention applied: the forced one, or the winner, guessed
    # to be the identity (a second pass over the pairs only when the guess is wrong).
    guess = forced if forced != "auto" else "identity"
    choice_groups, scale_groups = [], []
    measured: Measured = []
    for index, ref, sec in _dense_chunks(batch):
        if measure is not None:
            measured.append((index, measure(ref, sec, guess)))
        ref_c, sec_c = _moving_centred(ref, sec, min_range)
        choice_groups.append(_votes(ref_c, sec_c))
        scale_groups.append(_scales(ref_c, sec_c, CONVENTIONS[guess]))
    choices = np.concatenate(choice_groups) if choice_groups else np.zeros(0, dtype=np.int64)
    moving_count = choices.size
    if moving_count:
        counts = np.bincount(choices, minlength=len(CONVENTIONS))
        votes = {name: int(c) for name, c in zip(CONVENTION_NAMES, counts, strict=True)}
        leader = CONVENTION_NAMES[int(counts.argmax())]
        if leader != "identity" and (counts.max() * 2 <= moving_count
                                     or moving_count < MIN_MOVING_FOR_CONVENTION):
            note = (f"'{leader}' leads with {counts.max()} of {moving_count} moving movies, short "
                    f"of a majority of at least {MIN_MOVING_FOR_CONVENTION}; identity kept")
        else:
            estimated = leader
            note = f"{votes[leader]} of {moving_count} moving movies agree best after '{leader}'"
        applied = forced if forced != "auto" else estimated
        if applied != guess:
            scale_groups = [_scales(*_moving_centred(ref, sec, min_range), CONVENTIONS[applied])
                            for _, ref, sec in _dense_chunks(batch)]
        scales = np.concatenate(scale_groups)
        finite = scales[np.isfinite(scales)]
        scale = float(np.median(finite)) if finite.size else None
    name = estimated if forced == "auto" else forced
    return (ConventionEstimate(name, estimated, forced != "auto", moving_count, votes, scale,
                               note),
            measured if measure is not None and name == guess else None)


_CONVENTION_ROWS = np.stack(list(CONVENTIONS.values())).reshape(len(CONVENTIONS), 4).T
"""(4, 8): each convention's matrix as a column, entries in the order of `_votes`' products."""


def _moving_centred(ref: np.ndarray, sec: np.ndarray, min_range: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of a dense chunk that move in both inputs, each centred on its mean."""
    moving = (np.ptp(ref, axis=2).max(axis=1) > min_range) & (
        np.ptp(sec, axis=2).max(axis=1) > min_range)
    ref, sec = ref[moving], sec[moving]
    return ref - ref.mean(axis=2, keepdims=True), sec - sec.mean(axis=2, keepdims=True)


def _votes(ref_c: np.ndarray, sec_c: np.ndarray) -> np.ndarray:
    """Each pair's convention: the one with the smallest residual |ref - M sec|^2. Every
    convention is orthogonal, so that is |ref|^2 + |sec|^2 - 2 <ref, M sec>, and the largest
    <ref, M sec> = sum over i, j of M_ij <ref_i, sec_j> wins: four products a pair, not eight
    transformed copies of it."""
    products = np.einsum("nif,njf->nij", ref_c, sec_c).reshape(-1, 4)
    return (products @ _CONVENTION_ROWS).argmax(axis=1)


def _scales(ref_c: np.ndarray, sec_c: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Least-squares scale of each secondary, `matrix` applied, onto its reference."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("nkf,nkf->n", ref_c, _apply_matrix(sec_c, matrix)) / _sum_squares(sec_c)


# --------------------------------------------------------------------------- offset / rigid


def decide_metrics(corr: np.ndarray, low_motion: np.ndarray, rmse_px: np.ndarray,
                   max_error_px: np.ndarray, batch: Batch, thresholds: Thresholds,
                   nan_reason: str = "low_correlation") -> tuple[np.ndarray, np.ndarray]:
    """Accepted and reason per pair, from metrics alone (the rules of docs/decisions.md).

    Checked in order, the first failing criterion giving the reason: the score (--min-corr),
    the RMSE (--max-rmse: Å, or px when calibrated by ``auto``), the largest error
    (--max-error, Å); a pair that moves less than --min-range is accepted as ``low_motion``
    whatever these say; then the reference's motion (--max-motion, --max-early-motion, Å)
    applies to every pair. A NaN fails the criterion it is tested by, never passes silently.
    """
    pixel_size = batch.pixel_size
    reason = np.empty(corr.shape, dtype=object)
    reason[...] = "agree"  # one string object for all (np.full makes one a pair: 5 MB at 100,000)
    failing = np.zeros(corr.shape, dtype=bool)
    low_corr = ~(corr >= thresholds.min_corr)
    nan_corr = np.isnan(corr)
    reason[low_corr & ~nan_corr] = "low_correlation"
    reason[low_corr & nan_corr] = nan_reason
    failing |= low_corr
    criteria = ((thresholds.fixed_max_rmse_A(), rmse_px * pixel_size, "high_rmse"),
                (thresholds.max_rmse_px, rmse_px, "high_rmse"),
                (thresholds.max_error_A, np.abs(max_error_px) * pixel_size, "high_max_error"))
    for limit, values, code in criteria:
        if limit is None:
            continue
        bad = ~failing & ~(values <= limit)
        reason[bad] = code
        failing |= bad
    reason[low_motion] = "low_motion"
    failing &= ~low_motion
    total, early = batch.motion_A()
    for limit, values in ((thresholds.max_motion_A, total),
                          (thresholds.max_early_motion_A, early)):
        if limit is None:
            continue
        bad = ~failing & ~(values <= limit)
        reason[bad] = "excess_motion"
        failing |= bad
    return ~failing, reason


def _stacked(arrays: list[np.ndarray]) -> np.ndarray:
    """(n, 2, K), C-contiguous, from n arrays (K, 2) (concatenated: `np.stack` costs a Python
    call per array)."""
    flat = joined_pixels(arrays)
    return np.ascontiguousarray(flat.reshape(len(arrays), -1, 2).transpose(0, 2, 1))


def _dense_chunks(batch: Batch, size: int | None = None):
    """The pairs that share a frame count, as dense (n, 2, K) arrays of at most `size`
    (default `DENSE_CHUNK`) pairs: (index in the batch, ref, sec); by length, then in order."""
    size = size or DENSE_CHUNK
    lengths = batch.lengths
    for length in np.unique(lengths):
        group = np.flatnonzero(lengths == length).tolist()
        for start in range(0, len(group), size):
            index = group[start: start + size]
            yield (np.array(index, dtype=np.int64), _stacked([batch.refs[i] for i in index]),
                   _stacked([batch.secs[i] for i in index]))


def _dense_metrics(ref: np.ndarray, sec: np.ndarray, fit: str, matrix: np.ndarray,
                   keep_fitted: bool) -> tuple:
    """Metrics for pairs of equal length, (n, 2, F) each; the fitted secondary if asked."""
    sec = _apply_matrix(sec, matrix)
    frames = ref.shape[2]
    ref_mean = ref.mean(axis=2, keepdims=True)
    ref_c = ref - ref_mean
    sec_c = sec - sec.mean(axis=2, keepdims=True)
    rotation = np.zeros(ref.shape[0])
    if fit == "rigid":
        dot = np.einsum("nkf,nkf->n", ref_c, sec_c)
        cross = np.einsum("nf,nf->n", sec_c[:, 0], ref_c[:, 1]) - np.einsum(
            "nf,nf->n", sec_c[:, 1], ref_c[:, 0])
        angle = np.arctan2(cross, dot)
        cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
        sec_c = np.stack([cos * sec_c[:, 0] - sin * sec_c[:, 1],
                          sin * sec_c[:, 0] + cos * sec_c[:, 1]], axis=1)
        rotation = np.degrees(angle)
    difference = ref_c - sec_c
    squared_error = np.einsum("nkf,nkf->nf", difference, difference)
    rmse = np.sqrt(squared_error.sum(axis=1) / frames)
    max_error = np.sqrt(squared_error.max(axis=1))
    ref_ranges = np.ptp(ref, axis=2)
    sec_ranges = np.ptp(sec_c, axis=2)
    var_ref = np.einsum("nkf,nkf->nk", ref_c, ref_c) / frames
    var_sec = np.einsum("nkf,nkf->nk", sec_c, sec_c) / frames
    cov = np.einsum("nkf,nkf->nk", ref_c, sec_c) / frames
    flat_ref = var_ref < _FLAT_STD ** 2
    flat_sec = var_sec < _FLAT_STD ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.clip(cov / np.sqrt(var_ref * var_sec), -1.0, 1.0)
    corr = np.where(flat_ref ^ flat_sec, 0.0, corr)
    corr = np.where(flat_ref & flat_sec, np.nan, corr)
    fitted = sec_c + ref_mean if keep_fitted else None
    return corr, rmse, max_error, ref_ranges, sec_ranges, rotation, fitted


def compare(batch: Batch, thresholds: Thresholds, fit: str = "offset",
            convention: str = "identity", keep_fitted: bool = False,
            measured: Measured | None = None) -> Results:
    """Metrics and decisions for a batch, in `offset` or `rigid` mode (vectorised); the
    metrics `estimate_and_measure` found under `convention`, if given."""
    if fit == "xmipp":
        return compare_xmipp(batch, thresholds, keep_fitted)
    if fit not in FITS:
        raise ValueError(f"unknown fit {fit!r}; choose one of {', '.join(FITS)}")
    n = len(batch)
    per_axis = np.empty((n, 2))
    ref_ranges = np.empty((n, 2))
    sec_ranges = np.empty((n, 2))
    rmse, max_error, rotation = np.empty(n), np.empty(n), np.empty(n)
    fitted: list[np.ndarray] = [np.empty((0, 2))] * n if keep_fitted else []
    chunks: Iterable[tuple[np.ndarray, tuple]] = measured if measured is not None else (
        (index, _dense_metrics(ref, sec, fit, CONVENTIONS[convention], keep_fitted))
        for index, ref, sec in _dense_chunks(batch))
    for index, metrics in chunks:
        (per_axis[index], rmse[index], max_error[index], ref_ranges[index], sec_ranges[index],
         rotation[index], group_fitted) = metrics
        if group_fitted is not None:
            for j, i in enumerate(np.arange(n)[index]):
                fitted[i] = group_fitted[j].T
    informative = (ref_ranges > thresholds.min_range) | (sec_ranges > thresholds.min_range)
    low_motion = np.asarray(~informative.any(axis=1), dtype=bool)
    corr = np.where(informative, per_axis, np.inf).min(axis=1)
    corr = np.where(low_motion | np.isposinf(corr), np.nan, corr)
    accepted, reason = decide_metrics(corr, low_motion, rmse, max_error, batch, thresholds)
    return Results(corr=corr, corr_x=per_axis[:, 0], corr_y=per_axis[:, 1], rmse_px=rmse,
                   max_error_px=max_error, range_ref_px=ref_ranges.max(axis=1),
                   range_sec_px=sec_ranges.max(axis=1), frames=batch.lengths.copy(),
                   rotation_deg=rotation, accepted=accepted, reason=reason, fitted=fitted,
                   low_motion=low_motion, axis_ranges=np.hstack([ref_ranges, sec_ranges]))


# --------------------------------------------------------------------------- xmipp


def xmipp_metrics(ref: np.ndarray, sec: np.ndarray, min_range: float
                  ) -> tuple[float, float, float, float, float, bool, np.ndarray]:
    """The original protocol's arithmetic for one movie (scipion-em-xmipp 29.0.1).

    Returns corr, corr_x, corr_y, rmse, max_error, gated, fitted secondary (F, 2). ``rmse`` is
    taken over the 2F coordinates and ``max_error`` is the signed maximum of reference minus
    fitted secondary, as in the original. ``gated`` movies (an axis on which both trajectories
    span at most `min_range`) are compared raw, without any fit.
    """
    frames = ref.shape[0]
    s1 = np.ones((3, frames))
    s2 = np.ones((3, frames))
    s1[:2] = ref.T
    s2[:2] = sec.T
    spans1 = ref.max(axis=0) - ref.min(axis=0)
    spans2 = sec.max(axis=0) - sec.min(axis=0)
    gated = bool((spans1[0] <= min_range and spans2[0] <= min_range)
                 or (spans1[1] <= min_range and spans2[1] <= min_range))
    if gated:
        s2_fit = s2
    else:
        c1 = s1.mean(axis=1, keepdims=True)
        c2 = s2.mean(axis=1, keepdims=True)
        s11 = s1 - c1
        s22 = s2 - c2
        s11[2] = 1.0
        s22[2] = 1.0
        u, _, vt = np.linalg.svd(s22 @ s11.T)
        rotation = vt.T @ u.T
        if np.linalg.det(rotation) < 0:
            vt[-1] = -vt[-1]
            rotation = vt.T @ u.T
        s2_fit = rotation @ s22 + c1
        s2_fit[2] = 1.0
    a = s1[:2] / s1[2]
    b = s2_fit[:2] / s2_fit[2]
    difference = a - b
    rmse = float(np.sqrt(np.square(difference).mean()))
    max_error = float(np.max(difference))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr_x = float(np.corrcoef(a[0], b[0])[0, 1])
        corr_y = float(np.corrcoef(a[1], b[1])[0, 1])
    corr = float(np.min([corr_y, corr_x]))
    return corr, corr_x, corr_y, rmse, max_error, gated, b.T.copy()


def compare_xmipp(batch: Batch, thresholds: Thresholds, keep_fitted: bool = False) -> Results:
    """`--fit xmipp`: the original protocol, movie by movie, with its defects made explicit
    (a NaN correlation is discarded with a reason instead of vanishing)."""
    n = len(batch)
    columns = np.full((n, 5), np.nan)
    gated = np.zeros(n, dtype=bool)
    fitted: list[np.ndarray] = []
    ref, sec, mask = batch.padded()
    for i in range(n):
        keep = mask[i]
        *values, gate, fit = xmipp_metrics(ref[i][:, keep].T, sec[i][:, keep].T,
                                           thresholds.min_range)
        columns[i] = values
        gated[i] = gate
        if keep_fitted:
            fitted.append(fit)
    corr, corr_x, corr_y, rmse, max_error = columns.T
    accepted, reason = decide_metrics(corr, gated, rmse, max_error, batch, thresholds,
                                      nan_reason="nan_correlation")
    ref_ranges, sec_ranges = axis_ranges(ref, mask), axis_ranges(sec, mask)
    return Results(corr=corr, corr_x=corr_x, corr_y=corr_y, rmse_px=rmse, max_error_px=max_error,
                   range_ref_px=ref_ranges.max(axis=1), range_sec_px=sec_ranges.max(axis=1),
                   frames=batch.lengths.copy(), rotation_deg=np.full(n, np.nan),
                   accepted=accepted, reason=reason, fitted=fitted, low_motion=gated,
                   axis_ranges=np.hstack([ref_ranges, sec_ranges]), nan_reason="nan_correlation")

"""What a run decided, in the shape every output writes (outputs never re-derive metrics)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np

CSV_COLUMNS = (
    "movie", "decision", "reason", "corr", "corr_x", "corr_y", "rmse_px", "max_error_px",
    "rmse_A", "max_error_A", "range_ref_px", "range_sec_px", "frames", "reference_path",
    "secondary_path", "fit", "convention", "rotation_deg", "resampled", "pixel_size_A",
    "movie_name", "message", "plot_path", "motion_total_A", "motion_early_A", "range_ref_x_px",
    "range_ref_y_px", "range_sec_x_px", "range_sec_y_px",
)


@dataclass(slots=True)  # no __dict__: about 1 KB less a row (50 MB at 50,000 movies)
class Row:
    movie: str
    decision: str
    """``accepted`` or ``discarded``."""
    reason: str
    corr: float = math.nan
    corr_x: float = math.nan
    corr_y: float = math.nan
    rmse_px: float = math.nan
    max_error_px: float = math.nan
    rmse_A: float = math.nan
    max_error_A: float = math.nan
    range_ref_px: float = math.nan
    range_sec_px: float = math.nan
    frames: int = 0
    reference_path: str = ""
    secondary_path: str = ""
    fit: str = ""
    convention: str = ""
    rotation_deg: float = math.nan
    resampled: bool = False
    pixel_size_A: float = math.nan
    movie_name: str = ""
    message: str = ""
    plot_path: str = ""
    """The movie's overlay PNG, relative to the output directory, when one was drawn."""
    motion_total_A: float = math.nan
    """The reference's accumulated motion (path length) over all frames."""
    motion_early_A: float = math.nan
    """The same over the first --early-frames frames."""
    range_ref_x_px: float = math.nan
    range_ref_y_px: float = math.nan
    range_sec_x_px: float = math.nan
    range_sec_y_px: float = math.nan
    """Per-axis motion ranges (the secondary's after the fit): what --min-range tests."""
    decided_reason: str = ""
    """The rules' reason, when a manual decision (reason ``manual``) replaced it."""
    reference_shifts: np.ndarray | None = field(default=None, repr=False)
    secondary_fitted: np.ndarray | None = field(default=None, repr=False)
    sample_frames: np.ndarray | None = field(default=None, repr=False)

    @property
    def accepted(self) -> bool:
        return self.decision == "accepted"

    def frame_numbers(self) -> np.ndarray:
        """The frame numbers of the trajectories the row carries: `sample_frames`, else 1..n."""
        if self.sample_frames is not None:
            return np.asarray(self.sample_frames)
        return np.arange(1, len(np.asarray(self.reference_shifts)) + 1)


def missing(value: object) -> bool:
    """An undefined number (NaN, or inf from a division), which every output spells as empty:
    an empty CSV field, ``nan`` in STAR, ``null`` in JSON."""
    return isinstance(value, float) and not math.isfinite(value)


def json_ready(value: Any) -> Any:
    """`value` with every undefined number replaced by None, recursively."""
    if missing(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


class Parameters(TypedDict):
    """The options a run decided with (``summary.json`` → ``parameters``)."""

    min_corr: float
    min_range_px: float
    max_rmse: float | str | None
    """As given: Å, ``auto`` or None."""
    max_rmse_A: float | None
    """As used, in Å (``auto``: the calibrated limit at the median pixel size)."""
    max_rmse_px: float | None
    max_error_A: float | None
    max_motion_A: float | None
    max_early_motion_A: float | None
    early_frames: int
    override: str | None
    fit: str
    convention: str
    pixel_size_A: float | None


class Counts(TypedDict):
    paired: int
    accepted: int
    discarded: int
    only_in_reference: int
    only_in_secondary: int
    invalid: int
    duplicates: int


class _SummaryFields(TypedDict):
    motioncons: str
    parameters: Parameters
    max_rmse_calibration: dict[str, Any] | None
    inputs: dict[str, Any]
    counts: Counts
    reasons: dict[str, int]
    reason_meanings: dict[str, str]
    convention: dict[str, Any] | None
    warnings: list[str]
    only_in_reference: list[str]
    only_in_secondary: list[str]
    duplicates: list[str]
    versions: dict[str, str]


class Summary(_SummaryFields, total=False):
    """What ``summary.json`` says (documented in docs/outputs.md)."""

    outputs: list[str]
    stream: dict[str, Any]
    """``watch``: whether the inputs closed, retries pending."""
    median_pixel_size_A: float | None
    pairing: str | None
    """The Scipion plugin: movies paired by ``object id`` or by ``movie name``."""


@dataclass
class RunResult:
    rows: list[Row]
    summary: Summary
    warnings: list[str]
    outputs: list[str] = field(default_factory=list)

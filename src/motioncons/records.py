"""What a run decided, in the shape every output writes (outputs never re-derive metrics)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CSV_COLUMNS = (
    "movie", "decision", "reason", "corr", "corr_x", "corr_y", "rmse_px", "max_error_px",
    "rmse_A", "max_error_A", "range_ref_px", "range_sec_px", "frames", "reference_path",
    "secondary_path", "fit", "convention", "rotation_deg", "resampled", "pixel_size_A",
    "movie_name", "message", "plot_path", "motion_total_A", "motion_early_A", "range_ref_x_px",
    "range_ref_y_px", "range_sec_x_px", "range_sec_y_px",
)


@dataclass
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


@dataclass
class RunResult:
    rows: list[Row]
    summary: dict[str, Any]
    warnings: list[str]
    outputs: list[str] = field(default_factory=list)

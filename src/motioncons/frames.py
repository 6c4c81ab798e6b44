"""Put two trajectories of one movie on common samples (DESIGN §4.1). Pure numpy, no I/O.

Same frame grouping: compare on the frame numbers both contain. Different grouping (both
trajectories know how many frames or fractions the movie had, and the numbers differ, as with EER
fractions or MotionCor2 ``-Group``): resample the finer trajectory onto the exposure midpoints of
the coarser one, by linear interpolation, within the range the finer one covers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .trajectory import Trajectory

MIN_COMMON_FRAMES = 3


@dataclass(frozen=True, slots=True)
class CommonSamples:
    reference: np.ndarray
    """(K, 2) reference shifts, as the trajectory holds them (float64 pixels or int32
    millionths of a pixel: `trajectory.pixels` gives pixels)."""
    secondary: np.ndarray
    """(K, 2) secondary shifts at the same exposure points, held as `reference`."""
    frames: np.ndarray
    """(K,) 1-based frame numbers of the samples (of the coarser trajectory if resampled)."""
    resampled: bool

    def released(self) -> CommonSamples:
        """The same samples without their arrays (all empty): what is left of a pair once it
        is decided, when nothing else needs them (one object for all, it cannot change)."""
        return _RELEASED[self.resampled]


_NO_SHIFTS = np.zeros((0, 2))
_NO_FRAMES = np.zeros(0, dtype=np.int64)
_NO_SHIFTS.setflags(write=False)
_NO_FRAMES.setflags(write=False)
_RELEASED = {resampled: CommonSamples(_NO_SHIFTS, _NO_SHIFTS, _NO_FRAMES, resampled)
             for resampled in (False, True)}


class TooFewFrames(ValueError):
    pass


def _exposure_midpoints(frames: np.ndarray, total: int) -> np.ndarray:
    return (frames - 0.5) / total


def common_samples(reference: Trajectory, secondary: Trajectory) -> CommonSamples:
    ref_total, sec_total = reference.total_frames, secondary.total_frames
    if ref_total and sec_total and ref_total != sec_total:
        return _resampled(reference, secondary, ref_total, sec_total)
    # Readers share one array of 1..n between movies: the common case is one identity test.
    if reference.frames is secondary.frames or np.array_equal(reference.frames,
                                                               secondary.frames):
        if reference.frames.size < MIN_COMMON_FRAMES:
            raise TooFewFrames(f"{reference.frames.size} frame(s); at least {MIN_COMMON_FRAMES} "
                               "needed")
        return CommonSamples(reference.stored_shifts, secondary.stored_shifts, reference.frames,
                             False)
    common, ref_index, sec_index = np.intersect1d(reference.frames, secondary.frames,
                                                  assume_unique=True, return_indices=True)
    if common.size < MIN_COMMON_FRAMES:
        raise TooFewFrames(f"{common.size} common frame(s) (reference frames "
                           f"{_span(reference.frames)}, secondary frames "
                           f"{_span(secondary.frames)}); at least {MIN_COMMON_FRAMES} needed")
    return CommonSamples(reference.stored_shifts[ref_index], secondary.stored_shifts[sec_index],
                         common, False)


def _resampled(reference: Trajectory, secondary: Trajectory, ref_total: int,
               sec_total: int) -> CommonSamples:
    ref_t = _exposure_midpoints(reference.frames, ref_total)
    sec_t = _exposure_midpoints(secondary.frames, sec_total)
    coarse_is_reference = ref_total <= sec_total
    coarse, fine = (reference, secondary) if coarse_is_reference else (secondary, reference)
    grid_t, fine_t = (ref_t, sec_t) if coarse_is_reference else (sec_t, ref_t)
    grid_xy, fine_xy, frames = coarse.shifts, fine.shifts, coarse.frames
    inside = (grid_t >= fine_t[0]) & (grid_t <= fine_t[-1]) if fine_t.size else np.zeros(0, bool)
    if int(inside.sum()) < MIN_COMMON_FRAMES:
        raise TooFewFrames(f"{int(inside.sum())} common exposure point(s) after resampling "
                           f"{sec_total} secondary onto {ref_total} reference frames; at least "
                           f"{MIN_COMMON_FRAMES} needed")
    t = grid_t[inside]
    on_grid = np.column_stack([np.interp(t, fine_t, fine_xy[:, 0]),
                               np.interp(t, fine_t, fine_xy[:, 1])])
    if coarse_is_reference:
        return CommonSamples(grid_xy[inside], on_grid, frames[inside], True)
    return CommonSamples(on_grid, grid_xy[inside], frames[inside], True)


def _span(frames: np.ndarray) -> str:
    return f"{frames[0]}-{frames[-1]}" if frames.size else "none"

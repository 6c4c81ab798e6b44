"""The overlay codec: a movie's compared trajectories in a few bytes per frame, for the report
(the report's JavaScript decodes them) and the streaming state.

Trajectories are stored compactly (zigzag varints): the frame numbers as a first frame and count
when consecutive, the reference quantised to `QUANTUM` px and delta-encoded, the fitted secondary
as its quantised difference from the reference.
"""

from __future__ import annotations

import numpy as np

from ..records import Row

QUANTUM = 0.01


def _varints(values: np.ndarray) -> bytes:
    zigzag = ((values << 1) ^ (values >> 63)).astype(np.uint64)
    out = bytearray()
    for value in zigzag.tolist():
        while value >= 0x80:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
    return bytes(out)


def encode_overlay(frames: np.ndarray, reference: np.ndarray, fitted: np.ndarray) -> bytes:
    """Frames, reference x/y and fitted secondary x/y of one movie, in a few bytes per frame.

    Layout: n, first frame, consecutive flag, [frame deltas if not consecutive], reference x and
    y deltas, then (secondary - reference) x and y, all in units of `QUANTUM`.
    """
    frames = np.asarray(frames, dtype=np.int64)
    n = len(frames)
    consecutive = bool(n and np.array_equal(frames, np.arange(frames[0], frames[0] + n)))
    ref = np.rint(np.asarray(reference, dtype=float) / QUANTUM).astype(np.int64)
    sec = np.rint(np.asarray(fitted, dtype=float) / QUANTUM).astype(np.int64)
    parts = [np.array([n, frames[0] if n else 0, int(consecutive)], dtype=np.int64)]
    if not consecutive:
        parts.append(np.diff(frames, prepend=0))
    parts += [np.diff(ref[:, 0], prepend=0), np.diff(ref[:, 1], prepend=0),
              sec[:, 0] - ref[:, 0], sec[:, 1] - ref[:, 1]]
    return _varints(np.concatenate(parts))


def decode_overlay(blob: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The inverse of `encode_overlay` (the report's JavaScript does the same)."""
    values, shift, current = [], 0, 0
    for byte in blob:
        current |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        values.append((current >> 1) ^ -(current & 1))
        current, shift = 0, 0
    n, first, consecutive = values[:3]
    rest = values[3:]
    if consecutive:
        frames = np.arange(first, first + n)
    else:
        frames, rest = np.cumsum(rest[:n]), rest[n:]
    ref = np.column_stack([np.cumsum(rest[:n]), np.cumsum(rest[n: 2 * n])])
    sec = ref + np.column_stack([rest[2 * n: 3 * n], rest[3 * n: 4 * n]])
    return np.asarray(frames), ref * QUANTUM, sec * QUANTUM


def row_overlay(row: Row) -> bytes | None:
    if row.reference_shifts is None or row.secondary_fitted is None:
        return None
    frames = (row.sample_frames if row.sample_frames is not None
              else np.arange(1, len(row.reference_shifts) + 1))
    return encode_overlay(frames, np.asarray(row.reference_shifts),
                          np.asarray(row.secondary_fitted))

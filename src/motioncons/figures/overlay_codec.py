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


_SEVEN = np.uint64(7)
_LOW = np.uint64(0x7F)


def _varint_array(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zigzag varints of int64 `values`, all at once: the bytes, and each value's byte count.

    Each value's bytes are laid out in a row of a (values, longest) table, which is then read
    row by row where a byte exists; in pieces, to bound the memory of the temporaries.
    """
    parts, counts_all = [], []
    for lo in range(0, max(values.size, 1), 1 << 20):
        zigzag = ((values[lo:lo + (1 << 20)] << 1) ^ (values[lo:lo + (1 << 20)] >> 63)
                  ).astype(np.uint64)
        counts = np.ones(zigzag.size, dtype=np.int64)
        remaining = zigzag >> _SEVEN
        while remaining.any():
            counts += remaining > 0
            remaining >>= _SEVEN
        longest = int(counts.max(initial=0))
        table = np.empty((zigzag.size, longest), dtype=np.uint8)
        for k in range(longest):
            more = (counts > k + 1).astype(np.uint8) << np.uint8(7)
            table[:, k] = ((zigzag >> np.uint64(7 * k)) & _LOW).astype(np.uint8) | more
        parts.append(table[np.arange(longest) < counts[:, None]])
        counts_all.append(counts)
    return np.concatenate(parts), np.concatenate(counts_all)


def _varints(values: np.ndarray) -> bytes:
    return _varint_array(values)[0].tobytes()


def encode_overlay(frames: np.ndarray, reference: np.ndarray, fitted: np.ndarray) -> bytes:
    """Frames, reference x/y and fitted secondary x/y of one movie, in a few bytes per frame.

    Layout: n, first frame, consecutive flag, [frame deltas if not consecutive], reference x and
    y deltas, then (secondary - reference) x and y, all in units of `QUANTUM`.
    """
    return _varints(_values(frames, reference, fitted))


def _values(frames: np.ndarray, reference: np.ndarray, fitted: np.ndarray) -> np.ndarray:
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
    return np.concatenate(parts)


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


def _row_values(row: Row) -> np.ndarray | None:
    if row.reference_shifts is None or row.secondary_fitted is None:
        return None
    frames = (row.sample_frames if row.sample_frames is not None
              else np.arange(1, len(row.reference_shifts) + 1))
    return _values(frames, np.asarray(row.reference_shifts), np.asarray(row.secondary_fitted))


def row_overlay(row: Row) -> bytes | None:
    values = _row_values(row)
    return None if values is None else _varints(values)


def row_overlays(rows: list[Row], chunk: int = 4096) -> dict[str, bytes]:
    """`row_overlay` of every row that carries trajectories, by movie: vectorised over `chunk`
    rows at a time (the temporaries of all 50,000 rows at once would take 400 MB)."""
    found: dict[str, bytes] = {}
    for start in range(0, len(rows), chunk):
        found.update(_row_overlays(rows[start:start + chunk]))
    return found


def _row_overlays(rows: list[Row]) -> dict[str, bytes]:
    chosen = [(row, np.asarray(ref, dtype=float), np.asarray(sec, dtype=float)) for row in rows
              if (ref := row.reference_shifts) is not None
              and (sec := row.secondary_fitted) is not None]
    if not chosen:
        return {}
    lengths = np.array([len(ref) for _, ref, _ in chosen], dtype=np.int64)
    frames = np.concatenate([row.sample_frames if row.sample_frames is not None
                             else np.arange(1, len(ref) + 1) for row, ref, _ in chosen]
                            ).astype(np.int64)
    ref = np.rint(np.concatenate([ref for _, ref, _ in chosen]) / QUANTUM).astype(np.int64)
    sec = np.rint(np.concatenate([sec for _, _, sec in chosen]) / QUANTUM).astype(np.int64)
    starts = np.cumsum(lengths) - lengths
    row_of = np.repeat(np.arange(len(chosen)), lengths)
    j = np.arange(lengths.sum()) - starts[row_of]
    first = frames[starts]
    step = np.diff(frames, prepend=0)
    step[starts] = frames[starts]  # each movie's own first frame, as `np.diff(prepend=0)`
    irregular = np.zeros(len(chosen), dtype=bool)
    steps_not_one = (step != 1) & (j > 0)
    np.logical_or.at(irregular, row_of[steps_not_one], True)
    consecutive = ~irregular
    ref_step = np.diff(ref, axis=0, prepend=0)
    ref_step[starts] = ref[starts]
    # Each movie: n, first, consecutive, [frame steps], ref x steps, ref y steps, dx, dy.
    sizes = 3 + lengths * np.where(consecutive, 4, 5)
    offsets = np.cumsum(sizes) - sizes
    values = np.empty(int(sizes.sum()), dtype=np.int64)
    values[offsets] = lengths
    values[offsets + 1] = first
    values[offsets + 2] = consecutive
    body = offsets + 3
    frames_at = body[row_of] + j
    keep = irregular[row_of]
    values[frames_at[keep]] = step[keep]
    columns_at = body[row_of] + np.where(irregular, lengths, 0)[row_of] + j
    n_of = lengths[row_of]
    values[columns_at] = ref_step[:, 0]
    values[columns_at + n_of] = ref_step[:, 1]
    values[columns_at + 2 * n_of] = sec[:, 0] - ref[:, 0]
    values[columns_at + 3 * n_of] = sec[:, 1] - ref[:, 1]
    data, counts = _varint_array(values)
    ends = np.cumsum(np.add.reduceat(counts, offsets)).tolist()
    blob = data.tobytes()
    return {row.movie: blob[end - size: end] for (row, _, _), end, size in
            zip(chosen, ends, np.diff(ends, prepend=0).tolist(), strict=True)}

"""The overlay codec: a movie's compared trajectories in a few bytes per frame, for the report
(the report's JavaScript decodes them) and the streaming state.

Trajectories are stored compactly (zigzag varints): the frame numbers as a first frame and count
when consecutive, the reference quantised to `QUANTUM` px and delta-encoded, the fitted secondary
as its quantised difference from the reference.
"""

from __future__ import annotations

import numpy as np

from ..compiled import optional_module
from ..records import Row

QUANTUM = 0.01
COMPILED = optional_module("motioncons.figures._overlay_codec")
"""The compiled encoder (`encode_overlays`: 0.05 s for 50,000 movies, 0.65 s here), or None."""


_SEVEN = np.uint64(7)
_LOW = np.uint64(0x7F)


def _varint_array(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zigzag varints of int64 `values`, all at once: the bytes, and each value's byte count.

    Every value's first byte is written in one pass; the k-th bytes only for the values that
    have one (few: most samples differ by under 64 quanta). In pieces, to bound the memory of
    the temporaries.
    """
    parts, counts_all = [], []
    for lo in range(0, max(values.size, 1), 1 << 20):
        piece = values[lo:lo + (1 << 20)]
        zigzag = ((piece << 1) ^ (piece >> 63)).astype(np.uint64)
        counts = np.ones(zigzag.size, dtype=np.int64)
        remaining = zigzag >> _SEVEN
        while remaining.any():
            counts += remaining > 0
            remaining >>= _SEVEN
        starts = np.cumsum(counts) - counts
        data = np.empty(int(counts.sum()), dtype=np.uint8)
        longer = np.nonzero(counts > 1)[0]
        data[starts] = (zigzag & _LOW).astype(np.uint8) | ((counts > 1).astype(np.uint8) << 7)
        for k in range(1, int(counts.max(initial=1))):
            longer = longer[counts[longer] > k]
            more = (counts[longer] > k + 1).astype(np.uint8) << np.uint8(7)
            data[starts[longer] + k] = ((zigzag[longer] >> np.uint64(7 * k)) & _LOW
                                        ).astype(np.uint8) | more
        parts.append(data)
        counts_all.append(counts)
    return np.concatenate(parts), np.concatenate(counts_all)


def _varints(values: np.ndarray) -> bytes:
    return _varint_array(values)[0].tobytes()


def encode_overlay(frames: np.ndarray, reference: np.ndarray, fitted: np.ndarray) -> bytes:
    """Frames, reference x/y and fitted secondary x/y of one movie, in a few bytes per frame.

    Layout: n, first frame, consecutive flag, [frame deltas if not consecutive], reference x and
    y deltas, then (secondary - reference) x and y, all in units of `QUANTUM`.
    """
    return _encode([(np.asarray(frames), np.asarray(reference, dtype=float),
                     np.asarray(fitted, dtype=float))])[0]


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
    """`encode_overlay` of a row's compared trajectories, or None when it carries none."""
    return row_overlays([row]).get(row.movie)


def row_overlays(rows: list[Row], chunk: int = 4096) -> dict[str, bytes]:
    """`row_overlay` of every row that carries trajectories, by movie: compiled, else
    vectorised over `chunk` rows at a time (the temporaries of all 50,000 rows at once would
    take 400 MB)."""
    if COMPILED is not None:
        return _compiled_overlays(rows)
    found: dict[str, bytes] = {}
    for start in range(0, len(rows), chunk):
        chosen = [row for row in rows[start:start + chunk]
                  if row.reference_shifts is not None and row.secondary_fitted is not None]
        found.update(zip([row.movie for row in chosen],
                         _encode([_compared(row) for row in chosen]), strict=True))
    return found


def _compiled_overlays(rows: list[Row]) -> dict[str, bytes]:
    """`row_overlays` by the compiled encoder; the movies it leaves (trajectories it does not
    take as they are) by `_encode`."""
    assert COMPILED is not None
    chosen = [row for row in rows
              if row.reference_shifts is not None and row.secondary_fitted is not None]
    blobs = COMPILED.encode_overlays([row.sample_frames for row in chosen],
                                     [row.reference_shifts for row in chosen],
                                     [row.secondary_fitted for row in chosen], QUANTUM)
    left = [i for i, blob in enumerate(blobs) if blob is None]
    for i, blob in zip(left, _encode([_compared(chosen[i]) for i in left]), strict=True):
        blobs[i] = blob
    return {row.movie: blob for row, blob in zip(chosen, blobs, strict=True)
            if blob is not None}


def _compared(row: Row) -> Movie:
    return (row.frame_numbers(), np.asarray(row.reference_shifts, dtype=float),
            np.asarray(row.secondary_fitted, dtype=float))


Movie = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Frame numbers (K,), reference (K, 2) and fitted secondary (K, 2), float64."""


def _encode(movies: list[Movie]) -> list[bytes]:
    """`encode_overlay` of every (frames, reference, fitted): the movies of consecutive frames
    a length at a time, as blocks (`_encode_consecutive`), the others by `_encode_any`."""
    by_length: dict[int, list[int]] = {}
    for i, (frames, _, _) in enumerate(movies):
        by_length.setdefault(len(frames), []).append(i)
    out = [b""] * len(movies)
    others: list[int] = []
    for length, chosen in by_length.items():
        if length == 0:
            others += chosen
            continue
        frames = np.stack([movies[i][0] for i in chosen]).astype(np.int64, copy=False)
        consecutive = (np.diff(frames, axis=1) == 1).all(axis=1)
        if not consecutive.all():
            others += [i for i, ok in zip(chosen, consecutive.tolist(), strict=True) if not ok]
            chosen = [i for i, ok in zip(chosen, consecutive.tolist(), strict=True) if ok]
            frames = frames[consecutive]
        if chosen:
            encoded = _encode_consecutive(frames[:, 0], [movies[i] for i in chosen])
            for i, blob in zip(chosen, encoded, strict=True):
                out[i] = blob
    for i, blob in zip(others, _encode_any([movies[i] for i in others]), strict=True):
        out[i] = blob
    return out


def _encode_consecutive(first: np.ndarray, movies: list[Movie]) -> list[bytes]:
    """Movies of one length whose frames are consecutive: each movie's values are a row of one
    block (n, first, 1, reference x and y steps, fitted - reference x and y), filled by
    columns."""
    n = len(movies[0][0])
    reference = np.rint(np.stack([m[1].reshape(-1, 2) for m in movies]) / QUANTUM
                        ).astype(np.int64)
    fitted = np.rint(np.stack([m[2].reshape(-1, 2) for m in movies]) / QUANTUM
                     ).astype(np.int64)
    steps = np.diff(reference, axis=1, prepend=0)
    values = np.empty((len(movies), 3 + 4 * n), dtype=np.int64)
    values[:, 0] = n
    values[:, 1] = first
    values[:, 2] = 1
    values[:, 3: 3 + n] = steps[:, :, 0]
    values[:, 3 + n: 3 + 2 * n] = steps[:, :, 1]
    values[:, 3 + 2 * n: 3 + 3 * n] = fitted[:, :, 0] - reference[:, :, 0]
    values[:, 3 + 3 * n:] = fitted[:, :, 1] - reference[:, :, 1]
    data, counts = _varint_array(values.ravel())
    sizes = counts.reshape(len(movies), -1).sum(axis=1)
    ends = np.cumsum(sizes).tolist()
    blob = data.tobytes()
    return [blob[end - size: end] for end, size in zip(ends, sizes.tolist(), strict=True)]


def _encode_any(movies: list[Movie]) -> list[bytes]:
    """`encode_overlay` of every (frames, reference, fitted) at once, without a loop over them."""
    if not movies:
        return []
    lengths = np.array([len(frames) for frames, _, _ in movies], dtype=np.int64)
    frames = np.concatenate([f for f, _, _ in movies]).astype(np.int64)
    ref = np.rint(np.concatenate([r.reshape(-1, 2) for _, r, _ in movies]) / QUANTUM
                  ).astype(np.int64)
    sec = np.rint(np.concatenate([s.reshape(-1, 2) for _, _, s in movies]) / QUANTUM
                  ).astype(np.int64)
    starts = np.cumsum(lengths) - lengths
    row_of = np.repeat(np.arange(len(movies)), lengths)
    j = np.arange(lengths.sum()) - starts[row_of]
    first_sample = starts[lengths > 0]  # an empty movie has no first frame (written as 0)
    first = np.zeros(len(movies), dtype=np.int64)
    first[lengths > 0] = frames[first_sample]
    step = np.diff(frames, prepend=0)
    step[first_sample] = frames[first_sample]  # each movie's own first frame, as prepend=0
    irregular = lengths == 0
    np.logical_or.at(irregular, row_of[(step != 1) & (j > 0)], True)
    ref_step = np.diff(ref, axis=0, prepend=0)
    ref_step[first_sample] = ref[first_sample]
    # Each movie: n, first, consecutive, [frame steps], ref x steps, ref y steps, dx, dy.
    sizes = 3 + lengths * np.where(irregular, 5, 4)
    offsets = np.cumsum(sizes) - sizes
    values = np.empty(int(sizes.sum()), dtype=np.int64)
    values[offsets] = lengths
    values[offsets + 1] = first
    values[offsets + 2] = ~irregular
    body = offsets[row_of] + 3 + j
    keep = irregular[row_of]
    values[body[keep]] = step[keep]
    columns_at = body + np.where(irregular, lengths, 0)[row_of]
    n_of = lengths[row_of]
    values[columns_at] = ref_step[:, 0]
    values[columns_at + n_of] = ref_step[:, 1]
    values[columns_at + 2 * n_of] = sec[:, 0] - ref[:, 0]
    values[columns_at + 3 * n_of] = sec[:, 1] - ref[:, 1]
    data, counts = _varint_array(values)
    ends = np.cumsum(np.add.reduceat(counts, offsets))
    blob = data.tobytes()
    return [blob[end - size: end] for end, size in
            zip(ends.tolist(), np.diff(ends, prepend=0).tolist(), strict=True)]

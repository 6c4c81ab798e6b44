"""The overlay codec's vectorised varints against the byte-at-a-time definition."""

from __future__ import annotations

import numpy as np

from motioncons.figures.overlay_codec import (
    _varints,
    decode_overlay,
    encode_overlay,
    row_overlay,
    row_overlays,
)
from motioncons.records import Row


def _one_at_a_time(values: np.ndarray) -> bytes:
    out = bytearray()
    for value in values.tolist():
        value = (value << 1) ^ (value >> 63)
        value &= (1 << 64) - 1
        while value >= 0x80:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
    return bytes(out)


def test_varints_are_the_byte_at_a_time_encoding():
    rng = np.random.default_rng(3)
    edges = [0, 1, -1, 63, 64, -64, -65, 127, 128, 8191, 8192, -8193, 2**31, -(2**31),
             2**62, -(2**62), 2**63 - 1, -(2**63)]
    values = np.concatenate([np.array(edges, dtype=np.int64),
                             rng.integers(-(2**40), 2**40, 5000),
                             rng.integers(-300, 300, 5000)])
    assert _varints(values) == _one_at_a_time(values)
    assert _varints(np.zeros(0, dtype=np.int64)) == b""


def test_all_rows_at_once_equal_one_row_at_a_time():
    rng = np.random.default_rng(4)
    rows = []
    for i in range(60):
        n = int(rng.integers(3, 90))
        ref = rng.normal(0, 30, (n, 2)).cumsum(axis=0)
        frames = np.arange(1, n + 1) if i % 3 else np.sort(rng.choice(400, n, replace=False)) + 1
        rows.append(Row(movie=f"m{i}", decision="accepted", reason="agree",
                        reference_shifts=ref if i % 7 else None,
                        secondary_fitted=ref + rng.normal(0, 1, (n, 2)), sample_frames=frames))
    together = row_overlays(rows)
    assert together == {row.movie: blob for row in rows if (blob := row_overlay(row))}
    assert len(together) == sum(1 for row in rows if row.reference_shifts is not None)
    assert row_overlays(rows, chunk=7) == together
    first = next(row for row in rows if row.reference_shifts is not None)
    frames, ref, _ = decode_overlay(together[first.movie])
    assert frames.tolist() == first.sample_frames.tolist()
    np.testing.assert_allclose(ref, first.reference_shifts, atol=0.005 + 1e-9)
    assert encode_overlay(first.sample_frames, first.reference_shifts,
                          first.secondary_fitted) == together[first.movie]


def test_consecutive_movies_encoded_as_blocks_equal_the_general_encoding():
    from motioncons.figures.overlay_codec import _encode, _encode_any

    rng = np.random.default_rng(5)
    movies = []
    for i in range(300):
        n = int(rng.choice([0, 1, 2, 5, 38, 38, 38, 40]))
        start = int(rng.integers(1, 4))
        frames = np.arange(start, start + n)
        if i % 5 == 0 and n > 2:
            frames[n // 2:] += 1  # one gap: not consecutive
        ref = rng.normal(0, 3, (n, 2)).cumsum(axis=0)
        fitted = ref + rng.normal(0, 2 if i % 4 else 400, (n, 2))  # some multi-byte varints
        movies.append((frames, ref, fitted))
    blocks = _encode(movies)
    assert blocks == _encode_any(movies)
    for (frames, ref, fitted), blob in zip(movies, blocks, strict=True):
        decoded_frames, decoded_ref, decoded_fitted = decode_overlay(blob)
        assert decoded_frames.tolist() == frames.tolist()
        np.testing.assert_allclose(decoded_ref, ref.reshape(-1, 2), atol=0.005 + 1e-9)
        np.testing.assert_allclose(decoded_fitted, fitted.reshape(-1, 2), atol=0.01 + 1e-9)

"""The overlay codec's vectorised varints against the byte-at-a-time definition."""

from __future__ import annotations

import numpy as np
import pytest

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


def test_all_rows_at_once_equal_one_row_at_a_time(overlay_encoder):
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


def _awkward_rows() -> list[Row]:
    """Rows whose trajectories come in every form a row can hold them."""
    rng = np.random.default_rng(9)
    rows = []
    for i in range(400):
        n = int(rng.integers(0, 50)) if i % 10 else 0
        ref = rng.normal(0, 40, (n, 2)).cumsum(axis=0)
        fitted = ref + rng.normal(0, 2, (n, 2))
        frames: np.ndarray | None = np.arange(1, n + 1)
        kind = i % 9
        if kind == 1:
            frames = None  # 1..n
        elif kind == 2:
            frames = np.sort(rng.choice(1000, n, replace=False)).astype(np.int32) - 3
        elif kind == 3:
            fitted = np.asfortranarray(fitted)  # strided
            frames = np.arange(5, 5 + 2 * n, 2)[::-1].copy()
        elif kind == 4:
            both = np.stack([ref, fitted], axis=2)  # (n, 2, 2): each a view with strides
            ref, fitted = both[:, :, 0], both[:, :, 1]
        elif kind == 5 and n:
            fitted[n // 2, 0] = np.nan  # left to numpy's encoder
        elif kind == 6:
            ref = ref.astype(np.float32)  # not float64: numpy's encoder
            frames = np.arange(1, n + 1, dtype=np.int16)
        elif kind == 7:
            ref = ref * 1e16  # beyond what the compiled encoder quantises
        elif kind == 8:
            ref = np.round(ref, 2) + 0.005  # halves of the quantum: rounded to even
        rows.append(Row(movie=f"m{i}", decision="accepted", reason="agree",
                        reference_shifts=ref, secondary_fitted=fitted, sample_frames=frames))
    return rows


def test_the_compiled_encoder_writes_the_numpy_encoders_bytes(monkeypatch):
    from motioncons.figures import overlay_codec

    if overlay_codec.COMPILED is None:
        pytest.skip("the compiled encoder was not built")
    rows = _awkward_rows()
    encoder = overlay_codec.COMPILED
    with np.errstate(invalid="ignore"):  # NaN to integers, as numpy's encoder does
        compiled = row_overlays(rows)
        monkeypatch.setattr(overlay_codec, "COMPILED", None)
        assert row_overlays(rows) == compiled
    assert len(compiled) == len(rows)
    blobs = encoder.encode_overlays(
        [row.sample_frames for row in rows], [row.reference_shifts for row in rows],
        [row.secondary_fitted for row in rows], overlay_codec.QUANTUM)
    moving = [(i % 9, blob is not None) for i, blob in enumerate(blobs)
              if len(rows[i].reference_shifts)]
    assert {kind for kind, taken in moving if taken} == {0, 1, 2, 3, 4, 8}
    assert {kind for kind, taken in moving if not taken} == {5, 6, 7}


def test_the_compiled_encoder_refuses_bad_arguments():
    from motioncons.figures import overlay_codec

    if overlay_codec.COMPILED is None:
        pytest.skip("the compiled encoder was not built")
    with pytest.raises(ValueError, match="differ in length"):
        overlay_codec.COMPILED.encode_overlays([None], [], [], 0.01)
    with pytest.raises(ValueError, match="quantum"):
        overlay_codec.COMPILED.encode_overlays([], [], [], 0.0)
    with pytest.raises(TypeError):
        overlay_codec.COMPILED.encode_overlays((), [], [], 0.01)

from __future__ import annotations

import numpy as np
import pytest

from motioncons.formats import read_input
from motioncons.simulation.movies import (
    MovieConfig,
    degrade_movie,
    read_mrc,
    simulate_movie_files,
    write_mrc,
)


def test_mrc_round_trip(tmp_path):
    stack = np.random.default_rng(0).normal(size=(3, 8, 10)).astype(np.float32)
    write_mrc(tmp_path / "a.mrcs", stack, 1.5)
    raw = (tmp_path / "a.mrcs").read_bytes()
    assert raw[208:212] == b"MAP " and len(raw) == 1024 + stack.nbytes
    np.testing.assert_array_equal(read_mrc(tmp_path / "a.mrcs"), stack)


def _shift_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The shift (x, y) that, applied to b, best aligns it onto a (integer peak + parabola)."""
    spectrum = np.fft.fft2(a - a.mean()) * np.conj(np.fft.fft2(b - b.mean()))
    correlation = np.fft.fftshift(np.real(np.fft.ifft2(spectrum)))
    y, x = np.unravel_index(np.argmax(correlation), correlation.shape)
    def refine(c_minus, c0, c_plus):
        return 0.5 * (c_minus - c_plus) / (c_minus - 2 * c0 + c_plus)
    dx = refine(correlation[y, x - 1], correlation[y, x], correlation[y, x + 1])
    dy = refine(correlation[y - 1, x], correlation[y, x], correlation[y + 1, x])
    centre = np.array(correlation.shape) // 2
    return np.array([x - centre[1] + dx, y - centre[0] + dy])


def test_truth_is_the_shift_that_realigns_each_frame(tmp_path):
    config = MovieConfig(movies=1, size=256, frames=8, dose=50.0, seed=4)
    movie = simulate_movie_files(tmp_path, config)[0]
    frames = read_mrc(tmp_path / movie.name).astype(float)
    assert frames.shape == (8, 256, 256)
    for k in (3, 7):
        # Frame k moved by -truth[k]; shifting it by truth[k] puts it back onto frame 1.
        measured = _shift_between(frames[0], frames[k])
        assert measured == pytest.approx(movie.truth[k], abs=0.25)
    assert movie.truth[0].tolist() == [0.0, 0.0]
    assert np.hypot(*movie.truth[-1]) > 4


def test_truth_table_reads_as_a_trajectory_table(tmp_path):
    simulate_movie_files(tmp_path, MovieConfig(movies=2, size=128, frames=6),
                         {1: "still"})
    dataset = read_input(tmp_path / "movies_truth.csv", pixel_size=1.0)
    keys = sorted(t.key for t in dataset.trajectories)
    assert keys == ["movie_000", "movie_001"]
    still = next(t for t in dataset.trajectories if t.key == "movie_001")
    assert np.ptp(still.shifts, axis=0).max() < 0.5


def test_degraded_copies(tmp_path):
    config = MovieConfig(movies=1, size=128, frames=4, dose=4.0)
    movie = simulate_movie_files(tmp_path, config)[0]
    source = tmp_path / movie.name
    rng = np.random.default_rng(1)
    degrade_movie(source, tmp_path / "low.mrcs", "low_dose", rng, 1.0, strength=2.0)
    ratio = read_mrc(tmp_path / "low.mrcs").sum() / read_mrc(source).sum()
    assert ratio == pytest.approx(0.05, rel=0.1)  # 0.1 / strength of the counts kept
    degrade_movie(source, tmp_path / "gain.mrcs", "gain_defect", rng, 1.0)
    pattern = read_mrc(tmp_path / "gain.mrcs") / np.maximum(read_mrc(source), 1)
    assert np.std(pattern.mean(axis=0).mean(axis=0)) > 0.1  # column stripes, every frame
    with pytest.raises(ValueError, match="cannot degrade"):
        degrade_movie(source, tmp_path / "x.mrcs", "jump", rng, 1.0)
    with pytest.raises(ValueError, match="unknown failure"):
        simulate_movie_files(tmp_path / "y", config, {0: "melted"})

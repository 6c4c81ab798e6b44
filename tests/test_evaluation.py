"""Evaluation: Å-only trajectories take the paired movie's pixel size without being rewritten,
and the summary says where each pixel size came from."""

from __future__ import annotations

import numpy as np
import pytest

from motioncons.evaluation import (
    Options,
    accumulated_motions,
    pixel_size_sources,
    prepare,
    split_pairs,
)
from motioncons.matching import pair_sets
from motioncons.trajectory import Problem, Trajectory, TrajectorySet


def _sets():
    shifts = np.cumsum(np.ones((10, 2)), axis=0)
    relion = Trajectory("m", "m.tif", np.arange(1, 11), shifts, 0.5, "r.star")
    angstrom = shifts * 0.5
    cistem = Trajectory("m", "m.txt", np.arange(1, 11), angstrom.copy(), None, "m.txt",
                        extras={"angstrom": angstrom, "needs_pixel_size": True})
    return TrajectorySet("r", "relion", [relion]), TrajectorySet("c", "cistem", [cistem])


def test_angstrom_shifts_take_the_paired_pixel_size_without_rewriting_the_input():
    reference, secondary = _sets()
    comparison = prepare(reference, secondary, Options())
    pair = comparison.valid[0]
    np.testing.assert_allclose(pair.samples.secondary, pair.samples.reference)
    assert secondary.trajectories[0].pixel_size is None  # the input is not rewritten
    assert secondary.trajectories[0].extras["needs_pixel_size"] is True
    assert pixel_size_sources(pair_sets(reference, secondary).pairs) == {
        "file": 1, "paired movie": 1}
    assert any("1 from paired movie" in note for note in comparison.notes)


def test_accumulated_motions_do_not_depend_on_the_chunk():
    rng = np.random.default_rng(3)
    trajectories = [np.cumsum(rng.normal(0, 1, (int(n), 2)), axis=0)
                    for n in rng.integers(1, 30, 25)]
    whole = accumulated_motions(trajectories, 4)
    assert accumulated_motions(trajectories, 4, chunk=3) == whole
    first = trajectories[0]
    assert whole[0][0] == pytest.approx(np.hypot(*np.diff(first, axis=0).T).sum())


@pytest.mark.parametrize("frames", [1, 2, 3, 7, 8, 9, 16, 17, 50, 51, 130])
def test_trajectories_of_one_length_move_as_far_as_when_mixed_with_others(frames):
    """Chunks of one length take `_accumulated_equal`: the same floats, bit for bit, as the
    general path (`_accumulated_ragged`), for shifts held in pixels and in millionths."""
    from motioncons.evaluation import _accumulated_equal, _accumulated_ragged

    rng = np.random.default_rng(frames)
    pixels = [np.cumsum(rng.normal(0, 2, (frames, 2)), axis=0) for _ in range(40)]
    micro = [np.rint(t * 1e6).astype(np.int32) for t in pixels]
    lengths = np.full(40, frames)
    for held in (pixels, micro):
        for early in (2, 4, 9, 1000):
            assert _accumulated_equal(held, frames, early) == \
                _accumulated_ragged(held, lengths, early)
    mixed = [*pixels, np.ones((frames + 1, 2))]
    assert accumulated_motions(mixed, 4)[:40] == accumulated_motions(pixels, 4)


def test_decided_rows_are_made_in_the_order_of_rows_fields():
    """`_rows` makes each row by position (a fifth of the cost by keyword)."""
    from dataclasses import fields

    from motioncons.evaluation import DECIDED_FIELDS
    from motioncons.records import Row

    names = tuple(f.name for f in fields(Row))
    assert names[: len(DECIDED_FIELDS)] == DECIDED_FIELDS


def test_decided_rows_hold_what_was_decided():
    from motioncons import evaluation

    reference, secondary = _inputs(5)
    options = Options(convention="identity")
    comparison = prepare(reference, secondary, options)
    rows = evaluation.decide_comparison(comparison, options, {}).rows
    by_key = {pair.key: pair for pair in comparison.valid}
    for row in rows:
        pair = by_key[row.movie]
        assert (row.movie_name, row.reference_path, row.secondary_path) == (
            pair.movie_name, pair.reference_path, pair.secondary_path)
        assert (row.fit, row.convention, row.message, row.plot_path) == (
            "offset", "identity", "", "")
        assert row.pixel_size_A == pair.pixel_size
        assert row.rmse_A == row.rmse_px * pair.pixel_size
        assert row.max_error_A == abs(row.max_error_px) * pair.pixel_size
        assert row.motion_total_A == pair.motion_total_px * pair.pixel_size
        assert row.motion_early_A == pair.motion_early_px * pair.pixel_size
        assert row.frames == len(pair.samples.frames)
        assert row.resampled is pair.samples.resampled
        assert row.decision in ("accepted", "discarded") and row.reason
        assert row.corr == min(row.corr_x, row.corr_y) or row.reason == "low_motion"
        assert row.range_ref_px >= max(row.range_ref_x_px, row.range_ref_y_px) - 1e-9
        assert row.range_sec_px >= max(row.range_sec_x_px, row.range_sec_y_px) - 1e-9


def test_rows_do_not_depend_on_the_chunk(monkeypatch):
    from motioncons import evaluation

    rng = np.random.default_rng(4)
    trajectories = []
    for side in ("r", "s"):
        found = []
        for i in range(23):
            shifts = np.cumsum(rng.normal(0, 1.5, (20, 2)), axis=0)
            found.append(Trajectory(f"m{i}", f"m{i}.tif", np.arange(1, 21), shifts, 0.8,
                                    f"{side}/m{i}.star"))
        trajectories.append(TrajectorySet(side, "relion", found))
    comparison = prepare(*trajectories, Options(plots="all"))
    whole = evaluation.decide_comparison(comparison, Options(plots="all"), {}).rows
    real = evaluation._rows
    monkeypatch.setattr(evaluation, "_rows", lambda *args: real(*args, chunk=5))
    chunked = evaluation.decide_comparison(comparison, Options(plots="all"), {}).rows
    assert len(whole) == 23
    for a, b in zip(whole, chunked, strict=True):
        assert np.array_equal(a.secondary_fitted, b.secondary_fitted)
        a.reference_shifts = a.secondary_fitted = a.sample_frames = None
        b.reference_shifts = b.secondary_fitted = b.sample_frames = None
        assert repr(a) == repr(b)


def _inputs(seed: int, movies: int = 23) -> list[TrajectorySet]:
    rng = np.random.default_rng(seed)
    sides = []
    for side in ("r", "s"):
        found = []
        for i in range(movies):
            frames = 20 + i % 3  # some lengths differ, one resampled pair
            shifts = np.cumsum(rng.normal(0, 1.5, (frames, 2)), axis=0)
            found.append(Trajectory(f"m{i}", f"m{i}.tif", np.arange(1, frames + 1), shifts,
                                    0.8, f"{side}/m{i}.star",
                                    total_frames=40 if (side, i) == ("s", 4) else frames))
        sides.append(TrajectorySet(side, "relion", found))
    return sides


def _comparison(seed: int, movies: int = 23):
    return prepare(*_inputs(seed, movies), Options(plots="none", report=False))


def test_inputs_handed_over_give_the_same_comparison_and_are_emptied():
    from motioncons.evaluation import decide_comparison

    options = Options(plots="none", report=False)
    kept = decide_comparison(_comparison(5), options, {})
    reference, secondary = _inputs(5)
    reference.problems.append(Problem("gone", "gone.tif", "r/gone.star", "unreadable", "bad"))
    comparison = prepare(reference, secondary, options, release_inputs=True)
    assert reference.trajectories == [] and secondary.trajectories == []
    assert comparison.inputs["reference"]["readable"] == 23  # counted before they were handed
    assert comparison.inputs["reference"]["problems"] == 1
    released = decide_comparison(comparison, options, {})
    assert [repr(row) for row in released.rows] == [repr(row) for row in kept.rows]


def test_pairs_consumed_are_dropped_from_their_list_as_they_are_made_into_valid_pairs():
    reference, secondary = _inputs(6, movies=5)
    pairs = pair_sets(reference, secondary).pairs
    first = pairs[0]
    valid, invalid = split_pairs(pairs, Options(), consume=True)
    assert pairs == [] and len(valid) + len(invalid) == 5
    assert valid[0].key == first.key


def test_releasing_the_samples_gives_the_same_rows_and_spends_the_comparison(tmp_path):
    from motioncons.evaluation import decide_comparison
    from motioncons.outputs import comparison_file

    options = Options(plots="none", report=False)
    kept = decide_comparison(_comparison(7), options, {})
    comparison = _comparison(7)
    released = decide_comparison(comparison, options, {}, release_samples=True)
    assert [repr(row) for row in released.rows] == [repr(row) for row in kept.rows]
    assert any(row.resampled for row in released.rows)
    assert comparison.released
    assert all(pair.samples.reference.size == 0 for pair in comparison.valid)
    with pytest.raises(ValueError, match="released"):
        decide_comparison(comparison, options, {})
    with pytest.raises(ValueError, match="released"):
        comparison_file.save(tmp_path / "c.npz", comparison, {})
    # Rows that keep trajectories are built before the samples are released.
    drawing = Options(plots="discarded")
    kept = decide_comparison(_comparison(7), drawing, {})
    comparison = _comparison(7)
    released = decide_comparison(comparison, drawing, {}, release_samples=True)
    assert comparison.released
    for before, after in zip(kept.rows, released.rows, strict=True):
        assert repr(after) == repr(before)
        for name in ("reference_shifts", "secondary_fitted", "sample_frames"):
            value = getattr(before, name)
            assert (value is None) is (getattr(after, name) is None), name
            if value is not None:
                assert getattr(after, name).tobytes() == value.tobytes(), name
                assert getattr(after, name).size > 0, name


def _sources_side_by_side(pairs) -> tuple[dict[str, int], list[tuple[str, float, float]]]:
    """What `_pixel_sizes` counts, side by side and pair by pair (the rule as written)."""
    counts: dict[str, int] = {}
    mismatched = []
    for pair in pairs:
        ref, sec = pair.reference, pair.secondary
        both = isinstance(ref, Trajectory) and isinstance(sec, Trajectory)
        if both and ref.pixel_size and sec.pixel_size and \
                abs(ref.pixel_size - sec.pixel_size) > 0.01 * ref.pixel_size:
            mismatched.append((pair.key, ref.pixel_size, sec.pixel_size))
        for side, partner in ((ref, sec), (sec, ref)):
            if not isinstance(side, Trajectory):
                continue
            if side.extras.get("needs_pixel_size") and isinstance(partner, Trajectory) and \
                    partner.pixel_size:
                source = "paired movie"
            else:
                source = str(side.extras.get("pixel_size_from",
                                             "file" if side.pixel_size else "unknown"))
            counts[source] = counts.get(source, 0) + 1
    return counts, mismatched


def test_pixel_sizes_counted_by_kind_are_counted_as_side_by_side():
    from motioncons.evaluation import _pixel_sizes

    rng = np.random.default_rng(9)
    shared = [{}, {"pixel_size_from": "--pixel-size"}, {"needs_pixel_size": True},
              {"needs_pixel_size": True, "pixel_size_from": "--pixel-size"}]
    sides = []
    for side in ("r", "s"):
        found = TrajectorySet(side, "test")
        for i in range(300):
            key = f"m{i}"
            if rng.random() < 0.1:
                found.add(Problem(key, key, "x.star", "unreadable", "x.star: unreadable"))
                continue
            size = [None, 1.0, 1.005, 1.3][int(rng.integers(4))]
            extras = dict(shared[int(rng.integers(4))]) if rng.random() < 0.2 else \
                shared[int(rng.integers(4))]
            found.add(Trajectory(key, key, np.arange(1, 4), np.zeros((3, 2)), size, "x",
                                 extras=extras))
        sides.append(found)
    pairs = pair_sets(*sides).pairs
    counts, mismatched = _pixel_sizes(pairs)
    expected_counts, expected_mismatched = _sources_side_by_side(pairs)
    assert list(counts.items()) == list(expected_counts.items())  # the same order, too
    assert mismatched == expected_mismatched and mismatched
    assert set(counts) == {"file", "unknown", "--pixel-size", "paired movie"}


@pytest.mark.parametrize("held", ["millionths", "pixels", "both"])
def test_the_trajectories_a_row_keeps_are_its_pair_s_in_pixels(held):
    """One division of a chunk's millionths gives each row the floats of its own division, for
    trajectories of every length; shifts held in pixels are kept as they are."""
    from types import SimpleNamespace

    from motioncons.evaluation import _keep_trajectories
    from motioncons.records import Row
    from motioncons.trajectory import pixels

    rng = np.random.default_rng(3)
    valid, fitted = [], []
    for i, frames in enumerate((1, 7, 7, 50, 2, 33)):
        micro = rng.integers(-2_000_000_000, 2_000_000_000, (frames, 2), dtype=np.int32)
        in_pixels = held == "pixels" or (held == "both" and i % 2)
        reference = micro / 1e6 if in_pixels else micro
        valid.append(SimpleNamespace(samples=SimpleNamespace(reference=reference,
                                                             frames=np.arange(frames))))
        fitted.append(rng.normal(size=(frames, 2)))
    rows = [Row(str(i), "accepted", "ok") for i in range(len(valid))]
    _keep_trajectories(rows, valid, fitted)
    for row, item, secondary in zip(rows, valid, fitted, strict=True):
        expected = pixels(item.samples.reference)
        assert row.reference_shifts.dtype == np.float64
        assert row.reference_shifts.tobytes() == expected.tobytes()
        assert row.secondary_fitted is secondary and row.sample_frames is item.samples.frames

import dataclasses
import pickle

import numpy as np
import pytest

from motioncons.trajectory import (
    CompactTrajectory,
    SharedNames,
    Trajectory,
    TrajectorySet,
    _factored,
    as_micro,
    joined_pixels,
    movie_key,
    pixels,
)


def _fresh(text: str) -> str:
    """An equal string that is another object (literals and short names are interned)."""
    return "".join(list(text))


def _set(path: str, keys: list[str]) -> TrajectorySet:
    return TrajectorySet(path, "test", [
        Trajectory(_fresh(k), _fresh(f"Movies/{k}.tiff"), np.arange(1, 4), np.zeros((3, 2)), 1.0,
                   path) for k in keys])


def test_the_secondary_holds_the_names_it_shares_with_the_reference_as_one_object():
    ref = _set("r", ["movie_a", "movie_b", "movie_c", "movie_d"])
    # movie_c out of order, movie_x not in the reference, movie_b under another name
    sec = _set("s", ["movie_a", "movie_b", "movie_d", "movie_x", "movie_c"])
    sec.trajectories[1].movie_name = _fresh("Movies/movie_b.mrc")
    assert sec.trajectories[0].key is not ref.trajectories[0].key
    sec.share_names(ref)
    by_key = {t.key: t for t in ref.trajectories}
    for item in sec.trajectories:
        if item.key == "movie_x":
            continue
        assert item.key is by_key[item.key].key
        same_name = item.movie_name == by_key[item.key].movie_name
        assert (item.movie_name is by_key[item.key].movie_name) is same_name
    assert [t.movie_name for t in sec.trajectories] == [f"Movies/movie_{k}" for k in (
        "a.tiff", "b.mrc", "d.tiff", "x.tiff", "c.tiff")]


def test_names_are_found_by_position_while_the_inputs_list_the_movies_in_the_same_order():
    ref = _set("r", ["movie_a", "movie_b", "movie_c"])
    sec = _set("s", ["movie_a", "movie_b", "movie_c"])
    shared = SharedNames(ref)
    for item in sec.trajectories:
        shared.give(item)
    assert shared._index is None  # no index of the reference held
    assert all(s.key is r.key for s, r in zip(sec.trajectories, ref.trajectories, strict=True))


# ------------------------------------------------------------------ shifts held as millionths


def _decimal_shifts(count: int, seed: int = 0) -> np.ndarray:
    """Shifts as RELION writes them: at most 6 decimals, read from their text by `float`."""
    rng = np.random.default_rng(seed)
    micro = rng.integers(-2_147_000_000, 2_147_000_000, size=(count, 2))
    decimals = rng.integers(0, 7, size=(count, 2))
    shifts = np.array([[float(f"{m / 1e6:.{d}f}") for m, d in zip(row, places, strict=True)]
                       for row, places in zip(micro, decimals, strict=True)])
    shifts[shifts == 0] = 0.0  # "-0" reads as -0.0, which is not held as millionths
    return shifts


def test_shifts_of_at_most_six_decimals_come_back_from_millionths_bit_for_bit():
    shifts = _decimal_shifts(20_000)
    micro = as_micro(shifts)
    assert micro is not None and micro.dtype == np.int32
    assert pixels(micro).tobytes() == shifts.tobytes()


@pytest.mark.parametrize("value", [0.1234567, 2147.483648, -3000.0, -0.0, np.nan, np.inf, 1e300])
def test_shifts_that_millionths_would_change_are_not_held_so(value):
    shifts = np.array([[1.5, -2.25], [value, 0.0]])
    assert as_micro(shifts) is None


def test_a_compact_trajectory_gives_its_shifts_in_pixels_and_can_be_given_new_ones():
    shifts = _decimal_shifts(5)
    micro = as_micro(shifts)
    assert micro is not None
    trajectory = CompactTrajectory.of_micro("k", "k.tiff", np.arange(1, 6), micro, 0.885, "k.star",
                                            "relion", 5, {"binning": 1.0})
    assert [getattr(trajectory, f.name) for f in dataclasses.fields(Trajectory)
            if f.name != "shifts"] == ["k", "k.tiff", trajectory.frames, 0.885, "k.star",
                                       "relion", 5, {"binning": 1.0}]
    assert trajectory.shifts.dtype == np.float64
    assert trajectory.shifts.tobytes() == shifts.tobytes()
    assert trajectory.stored_shifts is micro
    with pytest.raises(ValueError, match="read-only"):
        trajectory.shifts[0, 0] = 1.0
    copy = pickle.loads(pickle.dumps(trajectory))
    moved = dataclasses.replace(trajectory, shifts=shifts + 1.0)
    for other, expected in ((copy, shifts), (moved, shifts + 1.0)):
        assert other.stored_shifts.dtype == np.float64
        assert other.shifts.tobytes() == expected.tobytes()
        assert (other.key, other.total_frames, other.extras) == ("k", 5, {"binning": 1.0})


def test_shifts_held_either_way_are_joined_in_pixels():
    shifts = _decimal_shifts(6, seed=1)
    micro = as_micro(shifts)
    assert micro is not None
    assert joined_pixels([micro[:2], micro[2:]]).tobytes() == shifts.tobytes()
    assert joined_pixels([micro[:2], shifts[2:]]).tobytes() == shifts.tobytes()
    assert joined_pixels([shifts[:3], shifts[3:]]).tobytes() == shifts.tobytes()
    assert joined_pixels([]).shape == (0, 2)


def test_a_factored_alternation_matches_exactly_its_words():
    import re

    words = ["tiff", "tif", "mrcs", "mrc", "t", "-Patch-Full", "-Patch-Patch", "_DW", "_DWS",
             "a.b", "a|b", "(x)"]
    pattern = re.compile(_factored(words))
    for word in words:
        assert pattern.fullmatch(word), word
    for other in ["", "ti", "tiffs", "mrcss", "-Patch-", "_D", "aXb", "a", "b", "x", "DW"]:
        assert not pattern.fullmatch(other), other


def test_movie_keys_are_those_of_the_plain_alternation_of_the_trailers():
    """The trailer's expression is factored for speed; the plain alternation of the same
    extensions and suffixes (as it was written before) must give every name the same key."""
    import random
    import re

    from motioncons import trajectory

    plain = re.compile("(?:" + "|".join([r"\.(?i:" + "|".join(trajectory.KEY_EXTENSIONS) + ")",
                                         *(re.escape(s) for s in trajectory.KEY_SUFFIXES)])
                       + ")+$")
    tokens = [*(f".{e}" for e in trajectory.KEY_EXTENSIONS), *(f".{e.upper()}" for e in
              trajectory.KEY_EXTENSIONS), *trajectory.KEY_SUFFIXES, ".", "_", "-", "x", "DW", "S",
              "Patch", "tif", "\n", "ſ", "K"]
    rng = random.Random(13)
    for _ in range(20_000):
        stem = "".join(rng.choice("ab_-.0") for _ in range(rng.randint(0, 6)))
        name = stem + "".join(rng.choice(tokens) for _ in range(rng.randint(0, 5)))
        base = name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
        expected = (plain.sub("", base) or base).replace(".", "_")
        if base[:21].isdigit():
            continue
        assert movie_key(name) == expected, name

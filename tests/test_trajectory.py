import numpy as np

from motioncons.trajectory import SharedNames, Trajectory, TrajectorySet


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

"""Property: every movie pairs with itself across every ordered pair of formats, whatever its
name (EPU and SerialEM names, timestamps, trailing digits, aligner suffixes inside the name,
names differing only by case, unicode, spaces, very long names).

No public real file exists for most formats: the simulator writes each one as documented in
shared/reference (motioncons.simulation.formats), so this is a test on simulated files.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motioncons.formats import read_input
from motioncons.matching import movie_key, pair_sets
from motioncons.simulation import formats as fmt
from motioncons.simulation.trajectories import write_relion_job

PIXEL = 1.1


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


_EPU = st.builds(
    lambda a, b, c, d, t, suffix, ext: f"FoilHole_{a}_Data_{b}_{c}_{d}_{t}{suffix}.{ext}",
    _digits(8), _digits(8), _digits(2), _digits(8), _digits(6),
    st.sampled_from(["", "_fractions", "_Fractions", "_EER"]),
    st.sampled_from(["tiff", "eer", "mrc", "tif"]))
_SERIALEM = st.builds(
    lambda prefix, n, month, day, time, ext: f"{prefix}_{n}_{month}{day}_{time}.{ext}",
    st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,8}", fullmatch=True), _digits(3),
    st.sampled_from(["Jan", "Feb", "Sep", "Dec"]), _digits(2),
    st.from_regex(r"[0-2][0-9]\.[0-5][0-9]\.[0-5]0", fullmatch=True),  # ends in 0
    st.sampled_from(["tif", "mrc", "eer"]))
_WORD = st.text(st.characters(categories=("L", "N"), max_codepoint=0x2FFF), min_size=1,
                max_size=12)
_FREE = st.builds(
    lambda words, seps, ext: "".join(w + s for w, s in zip(words, seps, strict=False))
    + words[-1] + f".{ext}",
    st.lists(_WORD, min_size=1, max_size=5),
    st.lists(st.sampled_from(["_", "-", " ", ".", "_DW_", "_fractions_", "0"]), min_size=4,
             max_size=4),
    st.sampled_from(["tiff", "mrc", "eer"]))
_LONG = st.builds(lambda word, ext: f"{word}.{ext}",
                  st.text("abcdefghijKLMNOP0123456789_", min_size=150, max_size=190),
                  st.sampled_from(["tiff", "mrc"]))
_NAME = st.one_of(_EPU, _SERIALEM, _FREE, _LONG).filter(
    lambda n: len(n.encode()) <= 200 and not n.startswith((".", "-")))


@st.composite
def _dataset(draw) -> list[str]:
    names = draw(st.lists(_NAME, min_size=1, max_size=4))
    if draw(st.booleans()):
        names.append(names[0].rsplit(".", 1)[0].swapcase() + "." + names[0].rsplit(".", 1)[1])
    unique: dict[str, str] = {}
    for name in names:
        unique.setdefault(movie_key(name), name)  # distinct movies have distinct names
    return list(unique.values())


def _write_every_format(root: Path, names: list[str]) -> dict[str, Path]:
    # Movie i has 8 + i frames, which identifies it in every format.
    shifts = [np.cumsum(np.full((8 + i, 2), 0.7 + 0.1 * i), axis=0) for i in range(len(names))]
    movies = [f"Movies/{name}" for name in names]
    paths = {"relion": write_relion_job(root / "relion", "MotionCorr/job002", movies, shifts,
                                        PIXEL)}
    for kind in ("motioncor", "logs", "warp", "xmipp", "imod", "cistem"):
        (root / kind).mkdir()
        paths[kind] = root / kind
    for i, (name, s) in enumerate(zip(movies, shifts, strict=True)):
        stem = Path(name).name.rsplit(".", 1)[0]
        fmt.motioncor_stdout(root / "motioncor" / f"{stem}.out", name, s, PIXEL)
        fmt.motioncor_log(root / "logs" / f"{stem}-Patch-Full.log", s)
        fmt.warp_xml(root / "warp" / f"{stem}.xml", name, s, PIXEL, utf16=i % 2 == 0)
        fmt.xmipp_xmd(root / "xmipp" / f"{stem}_shifts.xmd", name, s)
        fmt.imod_xf(root / "imod" / f"{stem}.xf", s)
        fmt.cistem_shifts(root / "cistem" / f"{stem}_shifts.txt", name, s, PIXEL)
    paths["cryosparc"] = fmt.cryosparc_job(root / "cryosparc", movies, shifts, PIXEL)
    paths["scipion"] = root / "scipion" / "movies.sqlite"
    fmt.scipion_set(paths["scipion"], movies, shifts, PIXEL)
    return paths


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          database=None)  # the suite leaves nothing behind: no example database
@given(_dataset())
def test_every_movie_pairs_with_itself_across_every_pair_of_formats(names):
    with tempfile.TemporaryDirectory() as directory:
        paths = _write_every_format(Path(directory), names)
        datasets = {kind: read_input(path, pixel_size=PIXEL) for kind, path in paths.items()}
    by_frames = {}
    for kind, dataset in datasets.items():
        assert not dataset.problems, (kind, dataset.problems[:1])
        by_frames[kind] = {t.n_frames: t.key for t in dataset.trajectories}
        assert len(by_frames[kind]) == len(names), (kind, by_frames[kind])
    for reference in datasets:
        for secondary in datasets:
            matching = pair_sets(datasets[reference], datasets[secondary])
            assert not matching.only_in_reference and not matching.only_in_secondary, (
                reference, secondary, matching.only_in_reference, matching.only_in_secondary)
            for pair in matching.pairs:  # each movie with itself
                assert pair.reference.n_frames == pair.secondary.n_frames, (reference,
                                                                            secondary, pair.key)

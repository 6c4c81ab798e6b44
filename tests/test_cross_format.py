"""The same simulated trajectories written in every format compare as identical in any pair.

No public real file exists for most of these formats: the simulator writes them exactly as
documented in shared/reference (motioncons.simulation.formats)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from motioncons.consensus import Thresholds
from motioncons.errors import InputError
from motioncons.formats import read_input
from motioncons.pipeline import Options, run
from motioncons.simulation import formats as fmt
from motioncons.simulation.trajectories import SimulationConfig, simulate_movies, write_relion_job

PIXEL = 0.885


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    movies = simulate_movies(SimulationConfig(movies=12, seed=31, failure_fraction=0))
    names = [m.name for m in movies]
    shifts = [m.reference for m in movies]
    paths = {"relion": write_relion_job(root / "relion", "MotionCorr/job002", names, shifts,
                                        PIXEL)}
    for kind in ("motioncor", "warp", "xmipp", "imod", "cistem"):
        (root / kind).mkdir()
    for i, (name, s) in enumerate(zip(names, shifts, strict=True)):
        stem = Path(name).name.rsplit(".", 1)[0]
        fmt.motioncor_stdout(root / "motioncor" / f"{stem}.out", name, s, PIXEL)
        fmt.warp_xml(root / "warp" / f"{stem}.xml", name, s, PIXEL, utf16=i % 2 == 0)
        fmt.xmipp_xmd(root / "xmipp" / f"{stem}_shifts.xmd", name, s)
        fmt.imod_xf(root / "imod" / f"{stem}.xf", s)
        fmt.cistem_shifts(root / "cistem" / f"{stem}_shifts.txt", name, s, PIXEL)
    paths.update({kind: root / kind for kind in ("motioncor", "warp", "xmipp", "imod",
                                                 "cistem")})
    paths["cryosparc"] = fmt.cryosparc_job(root / "cryosparc", names, shifts, PIXEL)
    fmt.scipion_set(root / "scipion" / "movies.sqlite", names, shifts, PIXEL)
    paths["scipion"] = root / "scipion" / "movies.sqlite"
    return root, paths


def test_every_reader_finds_every_movie(inputs):
    _, paths = inputs
    keys = None
    for kind, path in paths.items():
        dataset = read_input(path, pixel_size=PIXEL)
        assert not dataset.problems, (kind, dataset.problems[:1])
        found = sorted(t.key for t in dataset.trajectories)
        assert len(found) == 12, kind
        keys = keys or found
        assert found == keys, kind  # cryoSPARC prefixes, suffixes, extensions all stripped


@pytest.mark.parametrize("pair", list(itertools.permutations(
    ["relion", "motioncor", "cryosparc", "warp", "xmipp", "scipion", "imod", "cistem"], 2)))
def test_any_two_formats_compare_as_identical(inputs, pair, tmp_path):
    _, paths = inputs
    result = run(paths[pair[0]], paths[pair[1]], tmp_path,
                 Options(plots="none", report=False, pixel_size=PIXEL,
                         thresholds=Thresholds(min_range=0.0)))
    assert len(result.rows) == 12
    assert result.summary["convention"]["applied"] == "identity"
    assert result.summary["convention"]["scale"] == pytest.approx(1.0, abs=0.002)
    for row in result.rows:
        assert row.accepted, (pair, row.movie, row.reason)
        assert row.corr > 0.99999
        assert row.rmse_px < 0.003  # the coarsest writer rounds to 0.001 px


def test_angstrom_formats_take_the_pixel_size_of_the_paired_movie(inputs, tmp_path):
    _, paths = inputs
    result = run(paths["relion"], paths["cistem"], tmp_path, Options(plots="none",
                                                                     report=False))
    assert all(r.accepted and r.rmse_px < 0.003 for r in result.rows)


def test_a_flipped_gain_is_found_on_every_moving_movie(inputs, tmp_path):
    root, paths = inputs
    flipped = root / "cryosparc_flipped"
    movies = simulate_movies(SimulationConfig(movies=12, seed=31, failure_fraction=0))
    fmt.cryosparc_job(flipped, [m.name for m in movies],
                      [m.reference * np.array([1.0, -1.0]) for m in movies], PIXEL)
    result = run(paths["relion"], flipped / "J5" / "exposures.cs", tmp_path,
                 Options(plots="none", report=False))
    convention = result.summary["convention"]
    assert convention["applied"] == "flip_y"
    assert convention["votes"]["flip_y"] == convention["moving_pairs"]
    assert any("flip_y" in w for w in result.summary["warnings"])
    assert all(r.accepted for r in result.rows)


def test_cryosparc_reference_gets_cs_subsets_with_its_dtype_and_uids(inputs, tmp_path):
    _, paths = inputs
    flat = inputs[0] / "flat"
    movies = simulate_movies(SimulationConfig(movies=12, seed=31, failure_fraction=0))
    shifts = [m.reference for m in movies]
    shifts[3] = np.zeros_like(shifts[3])  # this secondary failed
    write_relion_job(flat, "MotionCorr/job009", [m.name for m in movies], shifts, PIXEL)
    run(paths["cryosparc"], flat / "MotionCorr/job009", tmp_path,
        Options(plots="none", report=False))
    source = np.load(paths["cryosparc"])
    accepted = np.load(tmp_path / "exposures_accepted.cs", allow_pickle=False)
    rejected = np.load(tmp_path / "exposures_rejected.cs", allow_pickle=False)
    assert accepted.dtype == rejected.dtype == source.dtype
    assert len(accepted) + len(rejected) == 12 and len(rejected) >= 1
    assert set(accepted["uid"]) | set(rejected["uid"]) == set(source["uid"])


def test_bad_input_per_format(inputs, tmp_path):
    root, paths = inputs
    (tmp_path / "bad.cs").write_bytes(b"not a cs file")
    with pytest.raises(InputError, match="wrong magic"):
        read_input(tmp_path / "bad.cs")
    # A .cs copied away from its project: the trajectories are not found, with a hint.
    moved = tmp_path / "elsewhere" / "J5"
    moved.mkdir(parents=True)
    (moved / "exposures.cs").write_bytes(paths["cryosparc"].read_bytes())
    dataset = read_input(moved / "exposures.cs")
    assert {p.reason for p in dataset.problems} == {"missing_metadata"}
    assert "--cryosparc-project-dir" in dataset.problems[0].message
    assert not read_input(moved / "exposures.cs",
                          cryosparc_project_dir=root / "cryosparc").problems
    empty = np.zeros(0, dtype=[("uid", "<u8"), ("rigid_motion/path", "S10")])
    np.save(tmp_path / "empty.npy", empty)
    (tmp_path / "empty.npy").rename(tmp_path / "empty.cs")
    assert not read_input(tmp_path / "empty.cs").trajectories
    warp = sorted(paths["warp"].glob("*.xml"))[1]
    (tmp_path / "cut.xml").write_bytes(warp.read_bytes()[:200])
    truncated = read_input(tmp_path / "cut.xml", pixel_size=1.0)  # still written: a problem
    assert truncated.problems[0].reason == "unreadable"
    assert "cut.xml" in truncated.problems[0].message
    broken = tmp_path / "broken.xml"
    broken.write_bytes(warp.read_bytes().replace(b"GridMovementY", b"GridMovementQ"))
    assert read_input(broken, pixel_size=1.0).problems[0].reason == "unreadable"
    (tmp_path / "m_shifts.xmd").write_text("# XMIPP_STAR_1 *\ndata_frameShifts\nloop_\n _shiftX\n")
    assert read_input(tmp_path / "m_shifts.xmd").problems[0].reason == "unreadable"
    (tmp_path / "m.xf").write_text("1 0 0 1 2.0\n")
    assert read_input(tmp_path / "m.xf").problems[0].reason == "unreadable"
    (tmp_path / "c.txt").write_text("# X/Y Shifts for file m.mrc\n1.0 2.0\n3.0\n")
    assert read_input(tmp_path / "c.txt", pixel_size=1.0).problems[0].reason == "unreadable"
    (tmp_path / "s.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    with pytest.raises(InputError):
        read_input(tmp_path / "s.sqlite")


def test_match_regex_pairs_other_names(inputs, tmp_path):
    _, paths = inputs
    result = run(paths["relion"], paths["imod"], tmp_path,
                 Options(plots="none", report=False, pixel_size=PIXEL,
                         match_regex=r"Data_(\d+)"))
    assert len(result.rows) == 12 and result.rows[0].movie.isdigit()


def test_motioncor3_star_and_warptools_json(inputs, tmp_path):
    """MotionCor3 -OutStar and WarpTools _motion.json, written as documented (no real files)."""
    _, paths = inputs
    relion = read_input(paths["relion"])
    first = relion.trajectories[0]
    rows = "\n".join(f"{i:13d} {x:13.6f} {y:13.6f}" for i, (x, y) in
                     enumerate(first.shifts - first.shifts[0], start=1))
    star = tmp_path / "mc3" / f"{Path(first.movie_name).stem}.star"
    star.parent.mkdir()
    star.write_text(
        "# version 30001\n\ndata_general\n\n_rlnImageSizeX 4096\n_rlnImageSizeY 4096\n"
        f"_rlnImageSizeZ {first.n_frames}\n_rlnMicrographMovieName {Path(first.movie_name).name}\n"
        f"_rlnMicrographOriginalPixelSize {PIXEL}\nrlnMicrographBinning 1.0\n"
        "_rlnMicrographStartFrame 1\n_rlnMotionModelVersion 0\n\n# version 30001\n\n"
        "data_global_shift\n\nloop\n_rlnMicrographFrameNumber #1\n_rlnMicrographShiftX #2\n"
        f"_rlnMicrographShiftY #3\n{rows}\n\ndata_hot_pixels\n\nloop_\n_rlnCoordinateX #1\n")
    mc3 = read_input(star)
    assert mc3.trajectories and mc3.trajectories[0].key == first.key
    np.testing.assert_allclose(mc3.trajectories[0].shifts, first.shifts - first.shifts[0],
                               atol=1e-6)
    tracks = {f"{i}_{j}": {"x": (first.shifts[:, 0] * PIXEL + i - j).tolist(),
                           "y": (first.shifts[:, 1] * PIXEL + j - i).tolist()}
              for i in range(2) for j in range(2)}
    motion = tmp_path / "warptools" / f"{Path(first.movie_name).stem}_motion.json"
    motion.parent.mkdir()
    motion.write_text(json.dumps(tracks))
    result = run(star, motion.parent, tmp_path / "out", Options(plots="none", report=False))
    assert result.rows[0].movie == first.key and result.rows[0].rmse_px < 1e-6


def test_cryosparc_fractions_against_relion_fractions_are_resampled(tmp_path):
    """EER grouped by 32 in RELION and by 25 in cryoSPARC: other fraction counts, one exposure."""
    movies = simulate_movies(SimulationConfig(movies=10, seed=8, eer=True, failure_fraction=0))
    write_relion_job(tmp_path / "relion", "MotionCorr/job002", [m.name for m in movies],
                     [m.reference for m in movies], PIXEL, eer_grouping=32)
    cs = fmt.cryosparc_job(tmp_path / "cryosparc", [m.name for m in movies],
                           [m.secondary for m in movies], PIXEL)
    result = run(tmp_path / "relion" / "MotionCorr/job002", cs, tmp_path / "out",
                 Options(plots="none", report=False))
    assert all(r.resampled for r in result.rows)
    assert all(r.accepted for r in result.rows), [(r.movie, r.reason) for r in result.rows]
    assert result.summary["convention"]["applied"] == "identity"

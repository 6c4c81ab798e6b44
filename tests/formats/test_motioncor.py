from __future__ import annotations

import numpy as np
import pytest

from motioncons.errors import InputError
from motioncons.formats import read_input


@pytest.fixture
def appion(samples):
    return samples / "motioncor2_stdout" / "nysbc-appion"


def test_motioncor2_15_and_16_stdout_of_the_same_movie(appion):
    old = read_input(appion / "motioncor2_1.5.0_log.txt").trajectories[0]
    new = read_input(appion / "motioncor2_1.6.4_log.txt").trajectories[0]
    assert old.key == new.key == "n25jul07b_NY0367G4_00016gr_00016sq_v02_00002hl_00005eer_frames"
    assert old.n_frames == new.n_frames == 16 and old.pixel_size == pytest.approx(0.73)
    assert old.shifts[8].tolist() == [0.0, 0.0]  # 1.5: raw, zero at the -FmRef -1 frame (9)
    assert new.shifts[0].tolist() == [0.0, 0.0]  # 1.6: re-referenced to frame 1
    difference = (old.shifts - old.shifts[0]) - (new.shifts - new.shifts[0])
    assert np.abs(difference[-1]).max() <= 0.01 + 1e-9
    assert np.abs(difference).max() == pytest.approx(0.44, abs=0.005)  # -Group 1 vs 1 4


def test_serial_stdout_names_each_movie_by_its_output(appion):
    dataset = read_input(appion / "motioncor2_1.6.4_serial_log.txt")
    assert len(dataset.trajectories) == 8 and not dataset.problems
    assert all(t.n_frames == 50 and t.shifts[0].tolist() == [0, 0]
               for t in dataset.trajectories)
    keys = [t.key for t in dataset.trajectories]
    assert len(set(keys)) == 8
    assert keys[0] == "n25aug18c_NY1814_g3_00021gr_00089sq_v02_00003hl_00002enn_frames"


def test_older_stdout_central_zero_frame(appion):
    t = read_input(appion / "29123499.motioncor2.log").trajectories[0]
    assert t.n_frames == 28 and t.shifts[14].tolist() == [0.0, 0.0]
    assert t.key.endswith("00004enn_st")


def test_log_files_and_aln_written_as_documented(tmp_path):
    # No real -Full.log or .aln file is public; these follow MotionCor3's source (reference §6).
    (tmp_path / "m1_fractions-Patch-Full.log").write_text(
        "# Patch based alignment\n# Initial alignment based upon full frames\n\n"
        "   1      0.00      0.00\n   2      1.50     -0.25\n   3      2.75     -0.50\n")
    (tmp_path / "m2.aln").write_text(
        "# Size:   512  512  3\n#    Global Shift\nglobalShift\nstackID 0\n"
        "     0    +0.000    +0.000\n     1    +1.250    -0.500\n     2    +2.000    -1.000\n"
        "# Local Shift\nlocalShift\n")
    dataset = read_input(tmp_path, pixel_size=1.1)
    by_key = {t.key: t for t in dataset.trajectories}
    assert sorted(by_key) == ["m1", "m2"]
    assert by_key["m1"].shifts[1].tolist() == [1.5, -0.25]
    assert by_key["m2"].frames.tolist() == [1, 2, 3]  # .aln counts frames from 0
    assert by_key["m2"].pixel_size == pytest.approx(1.1)


def test_stdout_without_a_shift_table_is_a_problem(tmp_path, appion):
    text = (appion / "motioncor2_1.6.4_log.txt").read_text()
    cut = tmp_path / "running.out"
    cut.write_text(text[: text.index("Full-frame alignment\n")] + "Full-frame alignment shift\n")
    dataset = read_input(cut)
    assert dataset.problems and dataset.problems[0].reason == "unreadable"
    assert str(cut) in dataset.problems[0].message


def test_directory_without_motioncor_output(tmp_path):
    (tmp_path / "notes.log").write_text("nothing to see\n")
    with pytest.raises(InputError, match="not a recognised"):
        read_input(tmp_path)

"""RELION's own motion correction (Debian's relion 3.1, CPU) on simulated movies, in CI.

The two runs differ in parameters, and the second sees copies of two movies degraded as real
sessions degrade them (an uncorrected gain reference; a hundredth of the dose)."""

from __future__ import annotations

import os

import gemmi
import pytest

from motioncons.formats import read_input
from motioncons.simulation.movies import MovieConfig
from motioncons.simulation.validation import relion_available, validate


@pytest.fixture(scope="module")
def validation(tmp_path_factory):
    if not relion_available():
        message = "Debian's relion package (relion_run_motioncorr) is needed"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    workdir = tmp_path_factory.mktemp("relion")
    verdicts = validate(workdir, MovieConfig(movies=8, size=512, frames=24, seed=11),
                        base_failures={6: "jump", 7: "still"},
                        degraded={1: ("gain_defect", 3.0), 3: ("low_dose", 10.0)},
                        fits=("offset", "rigid", "xmipp"))
    return workdir, verdicts


def test_relion_output_is_read_as_written(validation):
    workdir, _ = validation
    second = read_input(workdir / "second" / "MotionCorr/job003")
    assert len(second.trajectories) == 8 and not second.problems
    for trajectory in second.trajectories:
        # --first_frame_sum 2: frame 1 is -9999 and dropped; frame 2 is the zero.
        assert trajectory.frames[0] == 2 and trajectory.extras["unobserved_frames"] == 1
        assert trajectory.shifts[0].tolist() == [0.0, 0.0]
        assert float(trajectory.extras["binning"]) == 2.0  # shifts stay in unbinned pixels
        assert trajectory.pixel_size == pytest.approx(1.0)


def test_relion_recovers_the_truth_on_intact_movies(validation):
    _, verdicts = validation
    for v in verdicts:
        if v.degraded == "none":
            assert v.truth_rmse[0] < 0.5, v
            assert v.truth_rmse[1] < 1.0, v
    degraded = [v for v in verdicts if v.degraded != "none"]
    assert all(v.truth_rmse[1] > 1.0 for v in degraded), degraded


def test_consensus_keeps_good_and_discards_bad_alignments(validation):
    _, verdicts = validation
    for v in verdicts:
        decision = v.decisions["offset"]
        if max(v.truth_rmse) < 1.0:
            assert decision == "accepted", v
        if max(v.truth_rmse) > 1.5:
            assert decision == "discarded", v


def test_outputs_on_real_relion_results(validation):
    workdir, verdicts = validation
    out = workdir / "consensus_offset"
    names = {}
    for label in ("accepted", "discarded"):
        doc = gemmi.cif.read_file(str(out / f"{label}_micrographs.star"))
        for name in doc.find_block("micrographs").find_loop("_rlnMicrographName"):
            names[name.rsplit("/", 1)[-1].removesuffix(".mrc")] = label
    assert names == {v.movie: v.decisions["offset"] for v in verdicts}
    assert (out / "report.html").exists()

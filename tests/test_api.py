"""The public API: `motioncons.compare` equals `motioncons run`, `Result.write` writes what the
command line writes, and the package's surface is what `__all__` says."""

from __future__ import annotations

import subprocess
import sys

import pytest

import motioncons
from motioncons.records import CSV_COLUMNS
from motioncons.simulation.trajectories import SimulationConfig

from .reference_inputs import write_reference_inputs

FILES = ("consensus.csv", "accepted_micrographs.star", "discarded_micrographs.star",
         "exposures_accepted.cs", "exposures_rejected.cs", "accepted_scipion_ids.txt",
         "discarded_scipion_ids.txt")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_reference_inputs(tmp_path_factory.mktemp("api"), SimulationConfig(
        movies=40, seed=29, failure_fraction=0.25), 0.9)


@pytest.mark.parametrize("kind", ["relion", "cryosparc", "scipion"])
def test_compare_equals_run_and_write_equals_the_cli(inputs, tmp_path, kind):
    references, secondary = inputs
    result = motioncons.compare(references[kind], secondary, min_corr=0.8, plots="none")
    cli = tmp_path / "cli"
    done = subprocess.run([sys.executable, "-m", "motioncons", "run", str(references[kind]),
                           str(secondary), "-o", str(cli), "--min-corr", "0.8", "--plots", "none",
                           "--quiet"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    ran = motioncons.decide(cli)  # the CLI's decisions, read back
    assert [(r.movie, r.decision, r.reason) for r in result.rows] == [
        (r.movie, r.decision, r.reason) for r in ran.rows]
    assert result.counts == ran.summary["counts"]
    written = result.write(tmp_path / "api")
    assert "consensus.csv" in written and "summary.json" in written
    for name in FILES:
        if (cli / name).exists():
            assert (tmp_path / "api" / name).read_bytes() == (cli / name).read_bytes(), name


def test_records_read_as_attributes_and_keys_and_pandas(inputs):
    references, secondary = inputs
    result = motioncons.compare(references["relion"], secondary, max_rmse=None, plots="none")
    record = result.rows[0]
    assert record.movie == record["movie"] and set(record) == set(CSV_COLUMNS)
    assert dict(record)["decision"] in ("accepted", "discarded")
    with pytest.raises(AttributeError):
        record.not_a_column  # noqa: B018
    pandas = pytest.importorskip("pandas")
    frame = result.to_pandas()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == list(CSV_COLUMNS) and len(frame) == 40


def test_options_are_validated_with_the_clis_messages(inputs):
    references, secondary = inputs
    with pytest.raises(motioncons.UsageError, match="--min-corr must lie in"):
        motioncons.compare(references["relion"], secondary, min_corr=3)
    with pytest.raises(motioncons.UsageError, match="unknown option"):
        motioncons.compare(references["relion"], secondary, min_cor=0.5)
    with pytest.raises(motioncons.InputError, match="no such file"):
        motioncons.read("/nonexistent/job")
    assert motioncons.options().thresholds.max_rmse_A == "auto"


def test_read_gives_trajectories_in_the_canonical_convention(relion5):
    found = motioncons.read(relion5)
    assert isinstance(found, motioncons.TrajectorySet)
    assert all(isinstance(t, motioncons.Trajectory) for t in found.trajectories)


def test_the_public_surface():
    assert sorted(motioncons.__all__) == sorted(name for name in motioncons.__all__
                                                if hasattr(motioncons, name))
    for name in motioncons.__all__:
        item = getattr(motioncons, name)
        if callable(item) and not isinstance(item, type(Exception)):
            assert item.__doc__, name
    from importlib.resources import files

    assert files("motioncons").joinpath("py.typed").is_file()

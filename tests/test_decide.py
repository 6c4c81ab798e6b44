"""``motioncons decide``: re-deciding an output folder from what it stores equals a fresh run
with the same options, for every reference format, without reading the inputs again."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from motioncons.consensus import Thresholds
from motioncons.errors import InputError
from motioncons.figures.png import tail_text
from motioncons.pipeline import Options, decide, run
from motioncons.simulation.trajectories import SimulationConfig

from .reference_inputs import write_reference_inputs

SUBSETS = {"relion": ("accepted_micrographs.star", "discarded_micrographs.star",
                      "accepted_movies.star", "discarded_movies.star"),
           "cryosparc": ("exposures_accepted.cs", "exposures_rejected.cs"),
           "scipion": ("accepted_scipion_ids.txt", "discarded_scipion_ids.txt"),
           "table": ()}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("decide")
    paths, secondary = write_reference_inputs(root, SimulationConfig(
        movies=60, seed=23, failure_fraction=0.25), 0.9)
    return paths, secondary, root


CHANGES = [
    ({"min_corr": 0.95}, Thresholds(min_corr=0.95)),
    ({"max_rmse": 0.3}, Thresholds(max_rmse_A=0.3)),
    ({"max_rmse": None, "max_error": 1.5}, Thresholds(max_rmse_A=None, max_error_A=1.5)),
    ({"min_range": 6.0, "max_motion": 25.0}, Thresholds(min_range=6.0, max_motion_A=25.0)),
]


@pytest.mark.parametrize("kind", list(SUBSETS))
def test_decide_equals_a_fresh_run(inputs, tmp_path, kind):
    paths, secondary, _ = inputs
    base = tmp_path / "base"
    run(paths[kind], secondary, base)
    for number, (changes, thresholds) in enumerate(CHANGES):
        out = tmp_path / f"decided{number}"
        shutil.copytree(base, out)
        result = decide(out, changes)
        fresh = tmp_path / f"fresh{number}"
        expected = run(paths[kind], secondary, fresh, Options(thresholds=thresholds))
        assert [(r.movie, r.decision, r.reason) for r in result.rows] == [
            (r.movie, r.decision, r.reason) for r in expected.rows], changes
        for name in ("consensus.csv", *SUBSETS[kind]):
            assert (out / name).read_bytes() == (fresh / name).read_bytes(), (changes, name)
        got, want = (json.loads((d / "summary.json").read_text()) for d in (out, fresh))
        assert got["parameters"] == want["parameters"] and got["counts"] == want["counts"]
        assert sorted(p.name for p in (out / "plots").glob("*.png")) == sorted(
            p.name for p in (fresh / "plots").glob("*.png"))
        for plot in (fresh / "plots").glob("*.png"):  # kept or drawn again, as a run draws it
            assert (out / "plots" / plot.name).read_bytes() == plot.read_bytes(), plot.name


def test_decide_draws_only_the_overlays_that_change(inputs, tmp_path):
    paths, secondary, _ = inputs
    out = tmp_path / "out"
    run(paths["relion"], secondary, out)

    def plots() -> dict[str, tuple[int, int, tuple[str, str] | None]]:
        return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, tail_text(p))
                for p in (out / "plots").glob("*.png")}

    before = plots()
    assert before
    decide(out)
    assert plots() == before  # nothing changed: not one overlay written again
    decide(out, {"min_corr": 0.95})
    after = plots()
    written = {name for name in after if after[name][:2] != before.get(name, (0, 0, None))[:2]}
    shows_other = {name for name in after if after[name][2] != before.get(name, (0, 0, None))[2]}
    assert written and written == shows_other  # the overlays that show something new, only


def test_decide_reads_no_input_and_keeps_earlier_changes(inputs, tmp_path):
    _, _, root = inputs
    project = tmp_path / "copy"
    shutil.copytree(root / "relion", project)
    out = tmp_path / "out"
    run(project / "MotionCorr/job002", project / "MotionCorr/job003", out)
    shutil.rmtree(project)  # the inputs are gone
    decide(out, {"min_corr": 0.95})
    result = decide(out, {"max_error": 2.0})  # min_corr 0.95 is kept
    assert result.summary["parameters"]["min_corr"] == 0.95
    assert result.summary["parameters"]["max_error_A"] == 2.0


def test_overrides_are_applied_last_and_kept(inputs, tmp_path):
    paths, secondary, _ = inputs
    out = tmp_path / "out"
    first = run(paths["relion"], secondary, out)
    accepted = next(r for r in first.rows if r.accepted)
    discarded = next(r for r in first.rows if not r.accepted)
    overrides = tmp_path / "manual.csv"
    overrides.write_text(f"movie,decision\n{accepted.movie},discarded\n"
                         f"{discarded.movie_name},accepted\nnot_a_movie,accepted\n")
    result = decide(out, {"override": str(overrides)})
    by_movie = {r.movie: r for r in result.rows}
    assert (by_movie[accepted.movie].decision, by_movie[accepted.movie].reason) == (
        "discarded", "manual")
    assert (by_movie[discarded.movie].decision, by_movie[discarded.movie].reason) == (
        "accepted", "manual")
    assert any("not in this dataset" in w for w in result.warnings)
    again = decide(out, {"min_corr": 0.99})
    assert {r.movie: r.reason for r in again.rows}[accepted.movie] == "manual"


def test_a_bad_override_file_is_one_line(inputs, tmp_path):
    paths, secondary, _ = inputs
    (tmp_path / "bad.csv").write_text("movie,decision\nx,maybe\n")
    with pytest.raises(InputError, match="line 2"):
        run(paths["relion"], secondary, tmp_path / "out",
            Options(override=str(tmp_path / "bad.csv")))


def test_decide_on_the_command_line(inputs, tmp_path):
    paths, secondary, _ = inputs
    out = tmp_path / "out"
    run(paths["relion"], secondary, out, Options(plots="none"))
    done = subprocess.run([sys.executable, "-m", "motioncons", "decide", str(out),
                           "--max-rmse", "none", "--min-corr", "0.9"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "max-rmse off" in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters"]["max_rmse"] is None and summary["parameters"]["min_corr"] == 0.9
    missing = subprocess.run([sys.executable, "-m", "motioncons", "decide", str(tmp_path)],
                             capture_output=True, text=True, check=False)
    assert missing.returncode == 1 and "no consensus data" in missing.stderr

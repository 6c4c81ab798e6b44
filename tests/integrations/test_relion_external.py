"""The External job in fake RELION projects, one per release, with pipeline files written by the
test as each RELION version writes them (formats: shared/reference/anchors_ecosystem.md §3)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import gemmi
import pytest

from motioncons.integrations.relion_external import relion_version
from motioncons.simulation.trajectories import SimulationConfig, write_simulation

PIPELINES = {
    "3.1": ("data_pipeline_general\n\n_rlnPipeLineJobCounter 3\n\n"
            "data_pipeline_nodes\nloop_\n_rlnPipeLineNodeName #1\n_rlnPipeLineNodeType #2\n"
            "Import/job001/movies.star 0\nMotionCorr/job002/corrected_micrographs.star 1\n"),
    "4.0": ("# version 30001\n\ndata_pipeline_general\n\n_rlnPipeLineJobCounter 3\n\n"
            "# version 30001\n\ndata_pipeline_nodes\n\nloop_\n_rlnPipeLineNodeName #1\n"
            "_rlnPipeLineNodeTypeLabel #2\n_rlnPipeLineNodeTypeLabelDepth #3\n"
            "MotionCorr/job002/corrected_micrographs.star MicrographsData.star.relion 1\n"),
    "5.0": ("# version 50001\n\ndata_pipeline_general\n\n_rlnPipeLineJobCounter 3\n\n"
            "# version 50001\n\ndata_pipeline_nodes\n\nloop_\n_rlnPipeLineNodeName #1\n"
            "_rlnPipeLineNodeTypeLabel #2\n_rlnPipeLineNodeTypeLabelDepth #3\n"
            "MotionCorr/job002/corrected_micrographs.star "
            "MicrographGroupMetadata.star.relion 1\n"),
}
EXPECTED_TYPE = {"3.1": "1", "4.0": "MicrographsData.star.relion",
                 "5.0": "MicrographGroupMetadata.star.relion"}


def _project(tmp_path: Path, version: str, movies: int = 40) -> Path:
    project = tmp_path / f"relion{version}"
    write_simulation(project, SimulationConfig(movies=movies, seed=17))
    (project / "default_pipeline.star").write_text(PIPELINES[version])
    return project


def _job(project: Path, *extra: str, job: str = "External/job004/"):
    # RELION runs the job from the project directory with project-relative paths, appending
    # --j and, for executables named relion_*, --pipeline_control.
    command = [sys.executable, "-m", "motioncons.cli", "relion-external", "--o", job,
               "--in_mics", "MotionCorr/job002/corrected_micrographs.star",
               "--in_mics2", "MotionCorr/job003/corrected_micrographs.star", *extra,
               "--j", "1", "--pipeline_control", job]
    return subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("version", ["3.1", "4.0", "5.0"])
def test_output_nodes_in_the_projects_dialect(tmp_path, version):
    project = _project(tmp_path, version)
    assert relion_version(project) == version
    result = _job(project, "--min_corr", "0.8")
    assert result.returncode == 0, result.stderr
    job = project / "External/job004"
    assert (job / "RELION_JOB_EXIT_SUCCESS").exists()
    nodes = gemmi.cif.read_file(str(job / "RELION_OUTPUT_NODES.star"))
    block = nodes.find_block("output_nodes")
    names = list(block.find_loop("_rlnPipeLineNodeName"))
    assert names == ["External/job004/accepted_micrographs.star",
                     "External/job004/discarded_micrographs.star",
                     "External/job004/logfile.pdf"]
    type_tag = "_rlnPipeLineNodeType" if version == "3.1" else "_rlnPipeLineNodeTypeLabel"
    assert list(block.find_loop(type_tag)) == [EXPECTED_TYPE[version]] * 2 + [
        {"3.1": "13"}.get(version, "LogFile.pdf.relion")]
    assert (job / "logfile.pdf").read_bytes().startswith(b"%PDF")
    depth = block.find_loop("_rlnPipeLineNodeTypeLabelDepth").get_loop() is not None
    assert depth == (version == "5.0")
    header = (job / "RELION_OUTPUT_NODES.star").read_text().splitlines()[0]
    assert header == {"3.1": "data_output_nodes", "4.0": "# version 30001",
                      "5.0": "# version 50001"}[version]
    for name in ("accepted_micrographs.star", "discarded_micrographs.star"):
        doc = gemmi.cif.read_file(str(job / name))
        assert doc.find_block("optics") is not None
    accepted = gemmi.cif.read_file(str(job / "accepted_micrographs.star"))
    assert len(accepted.find_block("micrographs").find_loop("_rlnMicrographName")) > 30


def test_continue_mode_is_incremental_idempotent_and_fine_with_nothing_new(tmp_path):
    full = _project(tmp_path, "5.0", movies=60)
    project = tmp_path / "growing"
    shutil.copytree(full, project)
    # The first pass sees only the first 30 movies of each job.
    for job in ("MotionCorr/job002", "MotionCorr/job003"):
        for path in sorted((project / job / "Movies").glob("*.star"))[30:]:
            path.unlink()
        lines = (full / job / "corrected_micrographs.star").read_text().splitlines()
        first = next(i for i, line in enumerate(lines) if line.startswith("MotionCorr/"))
        (project / job / "corrected_micrographs.star").write_text(
            "\n".join(lines[: first + 30]) + "\n")
        (project / job / "RELION_JOB_EXIT_SUCCESS").unlink()
    first = _job(project)
    assert first.returncode == 0, first.stderr
    assert "30 new decision(s); 30 in total" in first.stdout
    again = _job(project)
    assert again.returncode == 0 and "0 new decision(s); 30 in total" in again.stdout
    for job in ("MotionCorr/job002", "MotionCorr/job003"):
        shutil.copytree(full / job, project / job, dirs_exist_ok=True)
    third = _job(project)
    assert third.returncode == 0 and "30 new decision(s); 60 in total" in third.stdout
    assert "inputs closed" in third.stdout
    out = project / "External/job004"
    total = sum(len(gemmi.cif.read_file(str(out / name)).find_block("micrographs")
                    .find_loop("_rlnMicrographName"))
                for name in ("accepted_micrographs.star", "discarded_micrographs.star"))
    assert total == 60


def test_abort_and_failure_markers(tmp_path):
    project = _project(tmp_path, "4.0", movies=10)
    job = project / "External/job004"
    job.mkdir(parents=True)
    (job / "RELION_JOB_ABORT_NOW").touch()
    aborted = _job(project)
    assert aborted.returncode != 0
    assert (job / "RELION_JOB_EXIT_ABORTED").exists()
    assert not (job / "RELION_JOB_ABORT_NOW").exists()
    assert not (job / "RELION_JOB_EXIT_SUCCESS").exists()
    command = [sys.executable, "-m", "motioncons.cli", "relion-external", "--o",
               "External/job005/", "--in_mics", "MotionCorr/job099/corrected_micrographs.star",
               "--in_mics2", "MotionCorr/job003/corrected_micrographs.star", "--j", "4"]
    failed = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
    assert failed.returncode == 1
    failed_job = project / "External/job005"
    assert (failed_job / "RELION_JOB_EXIT_FAILURE").exists()
    reason = (failed_job / "run.err").read_text()
    assert "MotionCorr/job099/corrected_micrographs.star" in reason and "no such file" in reason


@pytest.mark.parametrize("arguments", [
    ["--o", "External/job005/", "--in_mics", "MotionCorr/job002/corrected_micrographs.star"],
    ["--o", "External/job005/", "--in_mics", "MotionCorr/job002/corrected_micrographs.star",
     "--in_mics2", "MotionCorr/job003/corrected_micrographs.star", "--min_corr", "high"],
    ["--o", "External/job005/", "--in_mics", "MotionCorr/job002/corrected_micrographs.star",
     "--in_mics2", "MotionCorr/job003/corrected_micrographs.star", "--min_corr", "7"],
    ["--o", "External/job005/", "--in_mics", "nowhere.star",
     "--in_mics2", "MotionCorr/job003/corrected_micrographs.star"],
])
def test_every_failure_ends_in_the_failure_marker_with_the_reason(tmp_path, arguments):
    """RELION shows a job "Running" for ever unless it ends in a marker."""
    project = _project(tmp_path, "5.0", movies=10)
    result = subprocess.run([sys.executable, "-m", "motioncons", "relion-external", *arguments,
                             "--j", "1"], cwd=project, capture_output=True, text=True,
                            check=False)
    job = project / "External/job005"
    assert result.returncode == 1
    assert (job / "RELION_JOB_EXIT_FAILURE").exists()
    assert not (job / "RELION_JOB_EXIT_SUCCESS").exists()
    reason = (job / "run.err").read_text()
    assert reason.startswith("motioncons: error:") and reason.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_j_sets_the_workers_and_run_out_counts_each_pass(tmp_path, monkeypatch):
    from motioncons.integrations import relion_external

    project = _project(tmp_path, "5.0", movies=20)
    seen = []
    original = relion_external.Watcher

    def recording(*args, **kwargs):
        seen.append(args[3].workers)
        return original(*args, **kwargs)

    monkeypatch.setattr(relion_external, "Watcher", recording)
    monkeypatch.chdir(project)
    assert relion_external.run_job([
        "--o", "External/job006/", "--in_mics", "MotionCorr/job002/corrected_micrographs.star",
        "--in_mics2", "MotionCorr/job003/corrected_micrographs.star", "--j", "3"]) == 0
    assert seen == [3]
    result = _job(project, job="External/job007/")
    assert re.search(r"20 in total: \d+ accepted, \d+ discarded", result.stdout), result.stdout


def test_a_second_pass_started_at_once_leaves_the_first_passs_markers_alone(tmp_path):
    from motioncons.outputs.folder import OutputFolder

    project = _project(tmp_path, "5.0", movies=10)
    job = project / "External/job004"
    with OutputFolder(job):  # the first pass, still running
        second = _job(project)
    assert second.returncode == 1 and "another motioncons process" in second.stderr
    assert not (job / "RELION_JOB_EXIT_FAILURE").exists()
    assert _job(project).returncode == 0 and (job / "RELION_JOB_EXIT_SUCCESS").exists()


def test_changed_thresholds_in_continue_mode_redecide_instead_of_failing(tmp_path):
    """A Scheme may tighten a threshold mid-session; only other inputs are refused."""
    project = _project(tmp_path, "5.0", movies=40)
    assert _job(project).returncode == 0
    job = project / "External/job004"
    before = (job / "consensus.csv").read_text()
    stricter = _job(project, "--min_corr", "0.99", "--max_rmse", "0.2")
    assert stricter.returncode == 0, stricter.stderr
    assert (job / "RELION_JOB_EXIT_SUCCESS").exists()
    after = (job / "consensus.csv").read_text()
    assert after != before
    expected = project / "expected"
    from motioncons.consensus import Thresholds
    from motioncons.pipeline import Options, run

    run(project / "MotionCorr/job002/corrected_micrographs.star",
        project / "MotionCorr/job003/corrected_micrographs.star", expected,
        Options(thresholds=Thresholds(min_corr=0.99, max_rmse_A=0.2)))
    assert _same_decisions(after, expected / "consensus.csv")  # paths differ: relative here
    other = subprocess.run(
        [sys.executable, "-m", "motioncons", "relion-external", "--o", "External/job004/",
         "--in_mics", "MotionCorr/job003/corrected_micrographs.star",
         "--in_mics2", "MotionCorr/job002/corrected_micrographs.star"],
        cwd=project, capture_output=True, text=True, check=False)
    assert other.returncode == 1 and (job / "RELION_JOB_EXIT_FAILURE").exists()


def _same_decisions(text: str, path: Path) -> bool:
    import csv
    import io

    def decisions(handle):
        return {r["movie"]: (r["decision"], r["reason"]) for r in csv.DictReader(handle)}

    with open(path, newline="") as handle:
        return decisions(io.StringIO(text)) == decisions(handle)

"""The output folder: another run's outputs are refused or replaced (--force), one writer at a
time, write failures are one line with no temporary file left, inputs are never touched."""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from motioncons.errors import MotionconsError, OutputError
from motioncons.outputs import atomic
from motioncons.outputs.folder import OutputFolder
from motioncons.pipeline import Options, run
from motioncons.simulation.trajectories import SimulationConfig, write_simulation


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    root = tmp_path_factory.mktemp("projects")
    first = write_simulation(root / "a", SimulationConfig(movies=30, seed=3))
    second = write_simulation(root / "b", SimulationConfig(movies=20, seed=4))
    return first, second


def _cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "motioncons", *map(str, args)],
                          capture_output=True, text=True, check=False, **kwargs)


def _tree(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def test_another_runs_folder_is_refused_and_force_replaces_it_with_nothing_stale(projects,
                                                                               tmp_path):
    first, second = projects
    out = tmp_path / "out"
    run(first["reference"], first["secondary"], out, Options(plots="all"))
    assert len(list((out / "plots").glob("*.png"))) == 30
    refused = _cli("run", second["reference"], second["secondary"], "-o", out)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and str(out) in refused.stderr
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert len(list((out / "plots").glob("*.png"))) == 30  # untouched
    replaced = _cli("run", second["reference"], second["secondary"], "-o", out, "--force",
                    "--plots", "none")
    assert replaced.returncode == 0, replaced.stderr
    assert not (out / "plots").exists()
    expected = tmp_path / "fresh"
    run(second["reference"], second["secondary"], expected, Options(plots="none"))
    for name in ("consensus.csv", "accepted_micrographs.star", "discarded_micrographs.star"):
        assert (out / name).read_bytes() == (expected / name).read_bytes(), name


def test_the_same_command_again_replaces_its_outputs_and_removes_stale_overlays(projects,
                                                                                tmp_path):
    first, _ = projects
    run(first["reference"], first["secondary"], tmp_path, Options(plots="all"))
    result = run(first["reference"], first["secondary"], tmp_path, Options(plots="discarded"))
    drawn = {r.plot_path for r in result.rows if r.plot_path}
    on_disk = {f"plots/{p.name}" for p in (tmp_path / "plots").glob("*")}
    assert drawn == on_disk and 0 < len(drawn) < 30


def test_a_watch_folder_is_not_taken_by_run(projects, tmp_path):
    first, _ = projects
    from motioncons.streaming.watcher import Watcher, WatchOptions

    watcher = Watcher(first["reference"], first["secondary"], tmp_path,
                      watch=WatchOptions(interval=0, until_idle=0))
    try:
        watcher.run(max_polls=3)
    finally:
        watcher.close()
    with pytest.raises(MotionconsError, match=r"outputs of another run \(watch of"):
        run(first["reference"], first["secondary"], tmp_path)


def test_a_second_process_on_the_same_folder_is_refused(projects, tmp_path):
    first, _ = projects
    with OutputFolder(tmp_path):
        for command in ("run", "watch"):
            result = _cli(command, first["reference"], first["secondary"], "-o", tmp_path,
                          *(["--until-idle", "0"] if command == "watch" else []))
            assert result.returncode == 1
            assert "another motioncons process" in result.stderr
            assert str(os.getpid()) in result.stderr
    assert _cli("run", first["reference"], first["secondary"], "-o", tmp_path).returncode == 0


def test_output_under_a_file_is_one_line_and_exit_1(projects, tmp_path):
    first, _ = projects
    (tmp_path / "file").write_text("x")
    result = _cli("run", first["reference"], first["secondary"], "-o", tmp_path / "file" / "o")
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "file/o" in result.stderr and "Traceback" not in result.stderr


def _no_core_and_small_files():
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_a_full_disk_is_one_line_with_no_temporary_file_and_inputs_untouched(projects,
                                                                             tmp_path):
    """RLIMIT_FSIZE makes writes past 20 kB fail with EFBIG, as a full disk fails them."""
    first, _ = projects
    source = Path(first["reference"]).parents[1]  # the project of MotionCorr/jobNNN
    project = tmp_path / "project"
    shutil.copytree(source, project)
    before = _tree(project)
    reference = project / Path(first["reference"]).relative_to(source)
    secondary = project / Path(first["secondary"]).relative_to(source)
    out = tmp_path / "out"
    result = _cli("run", reference, secondary, "-o", out, "--plots", "all",
                  preexec_fn=_no_core_and_small_files)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and "cannot write" in result.stderr, result.stderr
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert _tree(project) == before


def test_a_read_only_folder_is_an_output_error(projects, tmp_path, monkeypatch):
    first, _ = projects

    def refuse(*args):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(OutputError, match="Permission denied"):
        run(first["reference"], first["secondary"], tmp_path / "out")
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.endswith(".tmp")]


def test_no_readable_movie_is_an_error_saying_where_it_looked(projects, tmp_path):
    first, _ = projects
    star = Path(first["reference"]) / "corrected_micrographs.star"
    copied = tmp_path / "elsewhere" / "corrected_micrographs.star"
    copied.parent.mkdir()
    shutil.copy(star, copied)
    result = _cli("run", copied, first["secondary"], "-o", tmp_path / "out")
    assert result.returncode == 1, result.stderr
    assert "none of its 30 movies could be read" in result.stderr
    assert "metadata STAR file does not exist" in result.stderr
    assert "no movie moves" not in result.stderr


def test_leftover_temporary_files_are_removed_at_start(projects, tmp_path):
    first, _ = projects
    (tmp_path / "plots").mkdir()
    for name in (".mc-0123abcd.tmp", ".movie.png.999.tmp", "plots/.x.png.1.tmp",
                 "plots/.mc-00000000.tmp"):
        (tmp_path / name).write_text("partial")
    run(first["reference"], first["secondary"], tmp_path, Options(plots="none"), force=True)
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]

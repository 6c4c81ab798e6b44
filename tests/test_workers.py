"""Worker processes die with their parent, whatever ends it: SIGKILL while plots render; a
task run alongside reports its error to the parent."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from motioncons import allocator, pipeline
from motioncons.errors import MotionconsError, OutputError
from motioncons.pipeline import Options, run
from motioncons.simulation.trajectories import SimulationConfig, write_simulation
from motioncons.workers import alongside, worker_pool

from .processes import MARKER, marked, wait_until_gone


def test_sigkill_of_run_while_plots_render_leaves_no_worker(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=1500, seed=12))
    marker = f"workers-{os.getpid()}-{time.monotonic_ns()}"
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "motioncons", "run", str(info["reference"]),
         str(info["secondary"]), "-o", str(out), "--plots", "all", "-j", "2", "--quiet"],
        env={**os.environ, MARKER: marker})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "plots").is_dir() and len(os.listdir(out / "plots")) >= 20:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before its plots were being drawn"
    workers = [pid for pid, _ in marked(marker) if pid != process.pid]
    assert workers, "no worker process was running"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert wait_until_gone(marker, 10.0) == []


_SET_UP: list[int] = []


def _set_up_here(_: int) -> list[int]:
    return _SET_UP


def test_each_pool_worker_is_set_as_a_worker_for_the_allocator(monkeypatch):
    monkeypatch.setattr(allocator, "for_worker", lambda: _SET_UP.append(os.getpid()))
    with worker_pool(2) as pool:
        assert pool is not None
        seen = list(pool.map(_set_up_here, range(8)))
    assert _SET_UP == []  # not in this process
    assert all(len(found) == 1 and found[0] != os.getpid() for found in seen)


def _write_pid(path) -> None:
    path.write_text(str(os.getpid()))


def test_a_task_alongside_runs_in_another_process_while_the_body_runs(tmp_path):
    with alongside(lambda: _write_pid(tmp_path / "task")):
        _write_pid(tmp_path / "body")
    assert int((tmp_path / "task").read_text()) != os.getpid()
    assert int((tmp_path / "body").read_text()) == os.getpid()
    assert multiprocessing.active_children() == []
    with alongside(lambda: _write_pid(tmp_path / "here"), enabled=False):
        pass
    assert int((tmp_path / "here").read_text()) == os.getpid()


def test_the_body_can_wait_for_the_task_alongside(tmp_path):
    with alongside(lambda: (time.sleep(0.3), _write_pid(tmp_path / "task"))) as finish:
        assert not (tmp_path / "task").exists()
        finish()
        assert (tmp_path / "task").exists()
        finish()  # once is enough
    assert multiprocessing.active_children() == []
    with pytest.raises(OutputError, match="No space left"), alongside(_fail) as finish:
        finish()
        pytest.fail("the task's error is raised where the body waits")


def _fail() -> None:
    raise OutputError("/data/out/consensus.csv", "cannot write: No space left on device")


def test_the_error_of_a_task_alongside_is_raised_here_and_the_body_error_wins():
    with pytest.raises(OutputError, match=r"consensus\.csv: cannot write: No space left"), \
            alongside(_fail):
        pass
    with pytest.raises(MotionconsError, match="exit code 3"), alongside(lambda: os._exit(3)):
        pass
    with pytest.raises(KeyError), alongside(_fail):
        raise KeyError("the body's own error")
    assert multiprocessing.active_children() == []


def _run_here_and_apart(tmp_path: Path, monkeypatch, seed: int, options: Options,
                        threshold: str) -> list[bool]:
    """The same inputs run into here/, then into apart/ with the pipeline's `threshold` of
    movies at 1: whether each task of the second run was given a process of its own."""
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=40, seed=seed))
    run(info["reference"], info["secondary"], tmp_path / "here", options)
    monkeypatch.setattr(pipeline, threshold, 1)
    calls: list[bool | str] = []
    monkeypatch.setattr(pipeline, "alongside", lambda task, enabled=True: (
        calls.append(enabled) or alongside(task, enabled)))
    run(info["reference"], info["secondary"], tmp_path / "apart", options)
    return calls


def test_a_run_writing_its_csv_alongside_writes_the_same_bytes(tmp_path, monkeypatch):
    calls = _run_here_and_apart(tmp_path, monkeypatch, 5, Options(plots="none", report=False),
                                "CSV_ALONGSIDE_ROWS")
    assert calls == [True, True]  # consensus_data.npz while deciding, then consensus.csv
    for name in ("consensus.csv", "accepted_micrographs.star", "discarded_movies.star",
                 "summary.json"):
        assert (tmp_path / "here" / name).read_bytes() == \
            (tmp_path / "apart" / name).read_bytes()
    with np.load(tmp_path / "here" / "consensus_data.npz") as here, \
            np.load(tmp_path / "apart" / "consensus_data.npz") as there:
        assert here.files == there.files
        assert all(np.array_equal(here[name], there[name]) for name in here.files)
    redecided = pipeline.decide(tmp_path / "apart")
    assert (tmp_path / "here" / "consensus.csv").read_bytes() == \
        (tmp_path / "apart" / "consensus.csv").read_bytes()
    assert len(redecided.rows) == 40


def test_a_default_run_has_its_consensus_data_in_place_before_its_outputs(tmp_path,
                                                                          monkeypatch):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=40, seed=6))
    options = Options(plots="discarded", report=True)
    run(info["reference"], info["secondary"], tmp_path / "here", options)
    monkeypatch.setattr(pipeline, "CSV_ALONGSIDE_ROWS", 1)
    real = pipeline.write_outputs
    present = []

    def write_outputs(out_dir, *args, **kwargs):
        present.append((out_dir / "consensus_data.npz").is_file())
        return real(out_dir, *args, **kwargs)

    monkeypatch.setattr(pipeline, "write_outputs", write_outputs)
    real_figures = pipeline.draw_summary

    def draw_summary(out_dir, *args, **kwargs):
        present.append((out_dir / "consensus_data.npz").is_file())
        return real_figures(out_dir, *args, **kwargs)

    monkeypatch.setattr(pipeline, "draw_summary", draw_summary)
    save = pipeline._save_comparison
    monkeypatch.setattr(pipeline, "_save_comparison",
                        lambda *args: (time.sleep(1.5), save(*args)))  # a slow disk
    run(info["reference"], info["secondary"], tmp_path / "separate", options)
    assert present == [True, True]  # the figures, then the tables
    assert multiprocessing.active_children() == []
    for name in ("consensus.csv", "accepted_micrographs.star", "summary.json"):
        assert (tmp_path / "here" / name).read_bytes() == \
            (tmp_path / "separate" / name).read_bytes()
    with np.load(tmp_path / "here" / "consensus_data.npz") as here, \
            np.load(tmp_path / "separate" / "consensus_data.npz") as there:
        assert all(np.array_equal(here[name], there[name]) for name in here.files)

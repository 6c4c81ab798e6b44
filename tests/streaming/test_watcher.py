from __future__ import annotations

import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import gemmi
import numpy as np
import pytest

from motioncons.consensus import Thresholds
from motioncons.errors import MotionconsError
from motioncons.figures.overlay_codec import row_overlays
from motioncons.pipeline import Options, run
from motioncons.simulation.trajectories import SimulationConfig, stream_simulation, write_simulation
from motioncons.streaming.watcher import Watcher, WatchOptions

OUTPUTS = ("consensus.csv", "accepted_micrographs.star", "discarded_micrographs.star",
           "accepted_movies.star", "discarded_movies.star")


def _same_outputs(a: Path, b: Path) -> None:
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    sa, sb = (json.loads((p / "summary.json").read_text()) for p in (a, b))
    assert sa["counts"] == sb["counts"]
    assert sa["convention"]["applied"] == sb["convention"]["applied"]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _rewrite_shifts(path: Path, change) -> None:
    """Rewrite the data_global_shift rows of a per-movie STAR with change(frame, x, y)."""
    text = path.read_text()
    head, rows = text.split("data_global_shift", 1)
    out = []
    for line in rows.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit():
            x, y = change(int(parts[0]), parts[1], parts[2])
            line = f"{parts[0]:>12} {x:>12} {y:>12}"
        out.append(line)
    path.write_text(head + "data_global_shift" + "\n".join(out) + "\n")


def _watch(info, out, **kwargs) -> Watcher:
    options = kwargs.pop("options", Options())
    return Watcher(info["reference"], info["secondary"], out, options,
                   WatchOptions(**{"interval": 0.05, "settle": 2.0, **kwargs}))


def test_watch_on_a_growing_dataset_ends_identical_to_run(tmp_path):
    config = SimulationConfig(movies=300, seed=21, failure_fraction=0.15)
    project = tmp_path / "p"
    writer = threading.Thread(target=stream_simulation, args=(project, config),
                              kwargs={"rate": 400.0, "lag": 0.3, "pieces": 0.2, "seed": 4})
    writer.start()
    while not (project / "MotionCorr/job003").exists():
        time.sleep(0.01)
    info = {"reference": project / "MotionCorr/job002", "secondary": project / "MotionCorr/job003"}
    watcher = _watch(info, tmp_path / "watch")
    polls = []
    report = watcher.run(polls.append)
    stored_overlays = watcher.state.overlays()
    watcher.close()
    writer.join()
    assert report.finished
    assert sum(1 for p in polls if p.decided) > 1  # decided in several batches as data arrived
    result = run(info["reference"], info["secondary"], tmp_path / "run")
    _same_outputs(tmp_path / "run", tmp_path / "watch")
    assert stored_overlays == row_overlays(result.rows)  # the report's trajectories, too


def test_nothing_is_decided_before_the_convention_is_frozen(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=30, seed=2,
                                                            secondary_convention="flip_x",
                                                            failure_fraction=0))
    watcher = _watch(info, tmp_path / "out", freeze_after=100)
    first = watcher.poll()
    assert first.decided == 0 and not first.finished
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert any("waiting for 100 moving movies" in w for w in summary["warnings"])
    watcher.close()
    watcher = _watch(info, tmp_path / "out2", freeze_after=5)
    watcher.run()
    rows = watcher.state.rows()
    assert watcher.estimate.name == "flip_x" and all(r.accepted for r in rows)
    assert {r.convention for r in rows} == {"flip_x"}


def test_uneven_inputs_nan_shifts_and_an_input_that_never_closes(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=60, seed=3))
    secondary = Path(info["secondary"])
    (secondary / "RELION_JOB_EXIT_SUCCESS").unlink()  # this input never closes
    (secondary / "corrected_micrographs.star").unlink()  # and has no index yet
    movies = sorted((secondary / "Movies").glob("*.star"))
    for path in movies[:12]:  # the reference has 20 % more movies
        path.unlink()
    _rewrite_shifts(movies[20], lambda frame, x, y: ("nan" if frame == 2 else x, y))
    _rewrite_shifts(movies[21], lambda frame, x, y: ("0.0", "0.0"))
    watcher = _watch(info, tmp_path / "out", until_idle=0.5, options=Options(fit="xmipp"))
    report = watcher.run()
    rows = {r.movie: r for r in watcher.state.rows()}
    watcher.close()
    assert report.finished
    assert len(rows) == 48
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["counts"]["only_in_reference"] == 12
    reasons = {r.reason for r in rows.values()}
    assert "nan_shifts" in reasons
    assert rows[movies[21].stem.replace("_fractions", "")].reason in ("nan_correlation",
                                                                       "low_motion")


def test_incomplete_result_is_retried_then_declared_unreadable(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=25, seed=5))
    victim = sorted((Path(info["secondary"]) / "Movies").glob("*.star"))[3]
    complete = victim.read_text()
    victim.write_text(complete[: len(complete) // 2])
    now = [1000.0]
    watcher = Watcher(info["reference"], info["secondary"], tmp_path / "out", Options(),
                      WatchOptions(settle=30.0, freeze_after=3), clock=lambda: now[0])
    report = watcher.poll()
    assert report.decided == 24 and not report.finished  # the partial file waits
    victim.write_text(complete)  # the writer finishes it
    now[0] += 1
    report = watcher.poll()
    assert report.decided == 1
    assert all(r.reason != "unreadable" for r in watcher.state.rows())
    watcher.close()
    victim.write_text(complete[:100])
    now[0] += 1
    watcher = Watcher(info["reference"], info["secondary"], tmp_path / "out", Options(),
                      WatchOptions(settle=30.0, freeze_after=3), clock=lambda: now[0])
    assert watcher.poll().decided == 0  # changed, but may still be being written
    now[0] += 31
    report = watcher.run()
    assert report.finished
    key = victim.stem.replace("_fractions", "")
    assert {r.movie: r for r in watcher.state.rows()}[key].reason == "unreadable"
    watcher.close()


def test_a_result_decided_after_it_was_stored_as_awaited_is_awaited_no_more(tmp_path):
    """A process killed between storing a decision and storing that its result was no longer
    awaited left that result awaited for ever: the next ones never finished."""
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=25, seed=5))
    watcher = _watch(info, tmp_path / "out", freeze_after=3)
    assert watcher.run(max_polls=5).finished
    key = watcher.state.rows()[3].movie
    source = watcher.state.result_of(key, "secondary")[0]
    watcher.state.put("retry_since", {source: 1000.0})  # what the killed process left
    watcher.close()
    watcher = _watch(info, tmp_path / "out", freeze_after=3)
    try:
        assert watcher.run(max_polls=5).finished
    finally:
        watcher.close()


def test_an_awaited_result_that_is_deleted_is_awaited_no_more(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=25, seed=5))
    victim = sorted((Path(info["secondary"]) / "Movies").glob("*.star"))[3]
    victim.write_text(victim.read_text()[:100])
    now = [1000.0]
    watcher = Watcher(info["reference"], info["secondary"], tmp_path / "out", Options(),
                      WatchOptions(settle=30.0, freeze_after=3), clock=lambda: now[0])
    try:
        assert watcher.poll().decided == 24  # the partial file waits
        victim.unlink()  # and is never finished
        now[0] += 1
        report = watcher.run(max_polls=5)
        assert report.finished
        # The secondary's table still lists the movie: it is decided as one without a result.
        row = {r.movie: r for r in watcher.state.rows()}[victim.stem.replace("_fractions", "")]
        assert (row.decision, row.reason) == ("discarded", "missing_metadata")
    finally:
        watcher.close()


def test_a_result_rewritten_after_its_decision_is_decided_again(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=30, seed=6,
                                                            failure_fraction=0))
    watcher = _watch(info, tmp_path / "out", freeze_after=3)
    watcher.run()
    watcher.close()
    target = sorted((Path(info["secondary"]) / "Movies").glob("*.star"))[0]
    key = target.stem.replace("_fractions", "")
    time.sleep(0.01)
    _rewrite_shifts(target, lambda frame, x, y: ("0.0", "0.0"))  # the aligner re-ran and failed
    watcher = _watch(info, tmp_path / "out", freeze_after=3)
    polls = []
    watcher.run(polls.append)
    rows = {r.movie: r for r in watcher.state.rows()}
    watcher.close()
    assert sum(p.decided for p in polls) == 1 and len(rows) == 30
    assert rows[key].decision == "discarded" or rows[key].reason == "low_motion"
    table = {r["movie"]: r for r in _csv_rows(tmp_path / "out" / "consensus.csv")}
    assert table[key]["decision"] == rows[key].decision


def test_other_inputs_or_fit_on_the_same_output_directory_are_refused(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=5, seed=1))
    _watch(info, tmp_path / "out").close()
    with pytest.raises(MotionconsError, match="other inputs or options"):
        _watch(info, tmp_path / "out", options=Options(fit="rigid"))


def test_other_thresholds_redecide_what_was_decided(tmp_path):
    """A Scheme may tighten a threshold between passes: the movies are decided again."""
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=80, seed=11,
                                                            failure_fraction=0.2))
    watcher = _watch(info, tmp_path / "out", until_idle=0.0, options=Options(plots="none"))
    try:
        watcher.run()
    finally:
        watcher.close()
    strict = Options(plots="none", thresholds=Thresholds(min_corr=0.97, max_rmse_A=0.4))
    watcher = _watch(info, tmp_path / "out", until_idle=0.0, options=strict)
    try:
        watcher.run()
    finally:
        watcher.close()
    run(info["reference"], info["secondary"], tmp_path / "run", strict)
    _same_outputs(tmp_path / "run", tmp_path / "out")


def test_thresholds_are_stored_only_once_every_movie_is_decided_with_them(tmp_path,
                                                                         monkeypatch):
    """A process stopped while deciding again with new thresholds must leave the old ones
    stored, or the next one would not decide again (until the inputs close)."""
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=30, seed=11))
    watcher = _watch(info, tmp_path / "out", until_idle=0.0, options=Options(plots="none"))
    try:
        watcher.run()
    finally:
        watcher.close()
    strict = Options(plots="none", thresholds=Thresholds(min_corr=0.97))

    def killed(self):
        raise KeyboardInterrupt  # the process dies while deciding again

    monkeypatch.setattr(Watcher, "redecide_all", killed)
    with pytest.raises(KeyboardInterrupt):
        _watch(info, tmp_path / "out", options=strict)
    monkeypatch.undo()
    watcher = _watch(info, tmp_path / "out", options=strict)
    try:
        assert watcher.redecided == 30
    finally:
        watcher.close()


def test_stale_temporary_files_are_removed(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=5, seed=1))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / ".consensus.csv.abc.tmp").write_text("half")
    _watch(info, tmp_path / "out").close()
    assert not list((tmp_path / "out").glob(".*.tmp"))


def _check_outputs_whole(out: Path, failures: list[str], stop: threading.Event) -> None:
    """A downstream job reading the outputs at any moment must see complete files."""
    while not stop.is_set():
        for name in ("accepted_micrographs.star", "discarded_micrographs.star"):
            try:
                text = (out / name).read_text()
            except FileNotFoundError:
                continue
            try:
                gemmi.cif.read_string(text)
            except Exception as exc:
                failures.append(f"{name}: {exc}")
        try:
            lines = (out / "consensus.csv").read_text().splitlines()
        except FileNotFoundError:
            lines = []
        widths = {len(row) for row in csv.reader(lines)}
        if len(widths) > 1:
            failures.append(f"consensus.csv rows of widths {widths}")
        time.sleep(0.005)


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path):
    project = tmp_path / "p"
    writer = subprocess.Popen(
        [sys.executable, "-m", "motioncons.cli", "simulate", str(project), "--stream",
         "--movies", "2000", "--rate", "150", "--lag", "0.5", "--seed", "8"],
        stdout=subprocess.DEVNULL)
    while not (project / "MotionCorr/job003").exists():
        time.sleep(0.01)
    out = tmp_path / "watch"
    command = [sys.executable, "-m", "motioncons.cli", "watch", str(project / "MotionCorr/job002"),
               str(project / "MotionCorr/job003"), "-o", str(out), "--interval", "0.1",
               "--settle", "3", "--quiet"]
    failures: list[str] = []
    stop = threading.Event()
    reader = threading.Thread(target=_check_outputs_whole, args=(out, failures, stop))
    reader.start()
    rng = random.Random(3)
    kills = 0
    process = None
    try:
        while True:
            process = subprocess.Popen(command)
            if kills >= 10 and writer.poll() is not None:
                assert process.wait(timeout=300) == 0  # the last run is left to finish
                break
            try:
                process.wait(timeout=rng.uniform(0.3, 1.2))
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills += 1
                continue
            assert process.returncode == 0
            if writer.poll() is not None:
                break
    finally:
        if process is not None and process.poll() is None:  # a failed wait: no orphan left
            process.kill()
            process.wait()
        stop.set()
        reader.join()
        writer.wait()
    assert kills >= 10
    assert not failures, failures[:3]
    assert not list(out.rglob("*.tmp"))  # plots/ included
    run(project / "MotionCorr/job002", project / "MotionCorr/job003", tmp_path / "run")
    _same_outputs(tmp_path / "run", out)
    rows = _csv_rows(out / "consensus.csv")
    assert len(rows) == len({r["movie"] for r in rows}) == 2000


def test_sigterm_finishes_the_batch_and_exits_cleanly(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=40, seed=9))
    os.remove(Path(info["secondary"]) / "RELION_JOB_EXIT_SUCCESS")
    process = subprocess.Popen(
        [sys.executable, "-m", "motioncons.cli", "watch", info["reference"], info["secondary"],
         "-o", str(tmp_path / "out"), "--interval", "0.2"], stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while not (tmp_path / "out" / "consensus.csv").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "stopped; run again to resume" in output
    rows = _csv_rows(tmp_path / "out" / "consensus.csv")
    assert len(rows) == 40
    assert np.isfinite([float(r["rmse_px"]) for r in rows]).all()


def test_watch_a_scipion_set_until_it_closes(samples, tmp_path):
    run_dir = samples / "scipion_xmipp_consensus_run"
    reference = tmp_path / "reference.sqlite"
    secondary = tmp_path / "secondary.sqlite"
    for source, target in ((run_dir / "reference_alignment/movies.sqlite", reference),
                           (run_dir / "secondary_alignment/movies.sqlite", secondary)):
        target.write_bytes(source.read_bytes())
    import sqlite3

    def set_state(path: Path, state: str) -> None:
        db = sqlite3.connect(path)
        db.execute("UPDATE Properties SET value = ? WHERE key = '_streamState'", (state,))
        db.commit()
        db.close()

    set_state(secondary, "1")  # still open
    watcher = Watcher(reference, secondary, tmp_path / "out", Options(fit="xmipp"),
                      WatchOptions(interval=0.01))
    first = watcher.poll()
    assert first.decided == 9 and not watcher.poll().finished
    set_state(secondary, "2")
    assert watcher.poll().finished
    assert (tmp_path / "out" / "discarded_scipion_ids.txt").read_text().count("\n") == 2
    watcher.close()


def test_watch_honours_the_cryosparc_project_dir(tmp_path):
    """An option must reach watch too: none travels through a module-level variable."""
    from motioncons.simulation import formats as fmt
    from motioncons.simulation.trajectories import simulate_movies, write_relion_job

    movies = simulate_movies(SimulationConfig(movies=6, seed=9, failure_fraction=0))
    names = [m.name for m in movies]
    cs = fmt.cryosparc_job(tmp_path / "project", names, [m.reference for m in movies], 1.0)
    moved = tmp_path / "elsewhere" / "J5" / "exposures.cs"
    moved.parent.mkdir(parents=True)
    moved.write_bytes(cs.read_bytes())
    secondary = write_relion_job(tmp_path / "r", "MotionCorr/job003", names,
                                 [m.secondary for m in movies], 1.0)
    options = Options(cryosparc_project_dir=str(tmp_path / "project"), plots="none")
    watcher = Watcher(moved, secondary, tmp_path / "out", options,
                      WatchOptions(interval=0, until_idle=0, freeze_after=1))
    try:
        watcher.run(max_polls=5)
        rows = watcher.state.rows()
    finally:
        watcher.close()
    assert len(rows) == 6 and all(r.reason in ("agree", "low_motion") for r in rows), rows[:1]


def test_watch_says_what_it_waits_for_and_counts_each_poll(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=30, seed=4))
    done = subprocess.run(
        [sys.executable, "-m", "motioncons", "watch", info["reference"], info["secondary"],
         "-o", str(tmp_path / "out"), "--interval", "0.05", "--until-idle", "0.5",
         "--freeze-after", "100", "--plots", "none"],
        capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "waiting for 100 moving movies to fix the axis convention:" in done.stdout
    assert " so far" in done.stdout
    assert re.search(r"30 in total: \d+ accepted, \d+ discarded", done.stdout), done.stdout

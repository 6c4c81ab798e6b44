"""The Scipion plugin's engine, without Scipion: sets written by the simulator's SetOfMovies
writer (the layout of pyworkflow's SqliteFlatMapper; no real Scipion set of movies with
alignment is among the samples). The plugin itself is tested in tests/scipion."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from motioncons.api import compare, options
from motioncons.formats import scipion
from motioncons.integrations.scipion_sets import BY_ID, BY_NAME, SetsConsensus
from motioncons.simulation.formats import scipion_set
from motioncons.simulation.trajectories import SimulationConfig, simulate_movies


def _cases(reference_material: Path):
    data = json.loads((reference_material / "xmipp_reference_cases.json").read_text())
    names = [f"movie_{case['case']}.tif" for case in data["cases"]]
    refs = [np.column_stack([c["reference"]["x"], c["reference"]["y"]]) for c in data["cases"]]
    secs = [np.column_stack([c["secondary"]["x"], c["secondary"]["y"]]) for c in data["cases"]]
    return names, refs, secs, [case["expected"] for case in data["cases"]]


def _read(folder: Path) -> tuple:
    return scipion.read(folder / "movies1.sqlite"), scipion.read(folder / "movies2.sqlite")


def test_xmipp_fit_reproduces_the_original_on_sets(tmp_path, reference_material):
    names, refs, secs, expected = _cases(reference_material)
    scipion_set(tmp_path / "movies1.sqlite", names, refs, 1.0, zero_first=False)
    scipion_set(tmp_path / "movies2.sqlite", names, secs, 1.0, zero_first=False)
    engine = SetsConsensus(options(fit="xmipp", plots="none", report=False))
    decided = engine.update(*_read(tmp_path), closed=True)
    assert [d.reference_id for d in decided] == list(range(1, 10))
    for item, want in zip(decided, expected, strict=True):
        assert item.row.decision == want["decision"]
        for column, key in (("corr", "corr"), ("rmse_px", "rmse"),
                            ("max_error_px", "max_error")):
            assert getattr(item.row, column) == pytest.approx(want[key], abs=1e-9)
    assert engine.update(*_read(tmp_path), closed=True) == []  # each movie decided once


def test_closed_sets_are_decided_as_run_decides_them(tmp_path):
    movies = simulate_movies(SimulationConfig(movies=60, seed=3, failure_fraction=0.3))
    names = [m.name for m in movies]
    scipion_set(tmp_path / "movies1.sqlite", names, [m.reference for m in movies], 0.885)
    scipion_set(tmp_path / "movies2.sqlite", names, [m.secondary for m in movies], 0.885)
    engine = SetsConsensus(options(plots="none", report=False))
    decided = engine.update(*_read(tmp_path), closed=True)
    run = compare(tmp_path / "movies1.sqlite", tmp_path / "movies2.sqlite", plots="none",
                  report=False)
    by_movie = {r.movie: r for r in run.rows}
    assert len(decided) == len(run.rows) == 60
    for item in decided:
        want = by_movie[item.row.movie]
        assert (item.row.decision, item.row.reason) == (want.decision, want.reason)
        assert item.row.rmse_px == pytest.approx(want.rmse_px, abs=1e-12)
    assert engine.summary()["max_rmse_calibration"] == run.summary["max_rmse_calibration"]
    assert engine.pairing == BY_ID


def test_growing_sets_decide_every_common_movie_once(tmp_path):
    movies = simulate_movies(SimulationConfig(movies=120, seed=5, failure_fraction=0.2))
    names = [m.name for m in movies]
    engine = SetsConsensus(options(plots="none", report=False))
    seen: list[int] = []
    for ref_count, sec_count in ((5, 3), (40, 30), (70, 90), (120, 100)):
        closed = ref_count == 120
        scipion_set(tmp_path / "movies1.sqlite", names[:ref_count],
                    [m.reference for m in movies[:ref_count]], 0.885, closed=closed)
        scipion_set(tmp_path / "movies2.sqlite", names[:sec_count],
                    [m.secondary for m in movies[:sec_count]], 0.885, closed=closed)
        decided = engine.update(*_read(tmp_path), closed=closed)
        if ref_count == 5:
            assert decided == [] and "waiting for 20 moving movies" in engine.waiting
        seen += [d.reference_id for d in decided]
    assert sorted(seen) == list(range(1, 101))  # the common ones, each once
    assert len(engine.only_in_reference) == 20 and not engine.waiting


def test_nan_correlation_is_decided_not_lost(tmp_path):
    frames = np.arange(30, dtype=float)
    flat_x = np.column_stack([np.zeros(30), 0.4 * frames])
    moving = np.column_stack([0.3 * frames, 0.4 * frames + np.sin(frames)])
    scipion_set(tmp_path / "movies1.sqlite", ["a", "b"], [flat_x, moving], 1.0)
    scipion_set(tmp_path / "movies2.sqlite", ["a", "b"], [moving, moving], 1.0)
    engine = SetsConsensus(options(fit="xmipp", plots="none", report=False))
    rows = {d.row.movie: d.row for d in engine.update(*_read(tmp_path), closed=True)}
    assert (rows["a"].decision, rows["a"].reason) == ("discarded", "nan_correlation")
    assert rows["b"].decision == "accepted"


def test_pairs_by_name_when_the_ids_do_not_correspond(tmp_path):
    """Ids that do not name the same movies (shifted, or from another import) pair by name."""
    movies = simulate_movies(SimulationConfig(movies=30, seed=1, failure_fraction=0.0))
    names = [m.name for m in movies]
    scipion_set(tmp_path / "movies1.sqlite", names, [m.reference for m in movies], 0.885)
    # The secondary lists the same movies from id 101 on, in reverse order: no common id.
    scipion_set(tmp_path / "movies2.sqlite", names[::-1], [m.secondary for m in movies][::-1],
                0.885, ids=list(range(101, 131)))
    engine = SetsConsensus(options(plots="none", report=False))
    decided = engine.update(*_read(tmp_path), closed=True)
    assert engine.pairing == BY_NAME and "paired by movie name" in engine.notes[0]
    assert len(decided) == 30 and len({d.reference_id for d in decided}) == 30
    assert all(d.row.decision == "accepted" for d in decided)


def test_pairs_by_id_when_the_names_differ_entirely(tmp_path):
    movies = simulate_movies(SimulationConfig(movies=25, seed=2, failure_fraction=0.0))
    scipion_set(tmp_path / "movies1.sqlite", [f"a_{i}" for i in range(25)],
                [m.reference for m in movies], 0.885)
    scipion_set(tmp_path / "movies2.sqlite", [f"b_{i}" for i in range(25)],
                [m.secondary for m in movies], 0.885)
    engine = SetsConsensus(options(plots="none", report=False))
    decided = engine.update(*_read(tmp_path), closed=True)
    assert engine.pairing == BY_ID and len(decided) == 25
    assert all(d.row.decision == "accepted" for d in decided)
    assert decided[0].row.movie == "a_0"


def test_writes_the_report_of_what_is_decided(tmp_path):
    movies = simulate_movies(SimulationConfig(movies=30, seed=4, failure_fraction=0.3))
    names = [f"<b>{m.name}</b>" for m in movies]
    scipion_set(tmp_path / "movies1.sqlite", names, [m.reference for m in movies], 0.885)
    scipion_set(tmp_path / "movies2.sqlite", names, [m.secondary for m in movies], 0.885)
    engine = SetsConsensus(options(plots="discarded"))
    decided = engine.update(*_read(tmp_path), closed=True)
    out = tmp_path / "extra"
    engine.draw(out, decided)
    written = engine.write(out)
    assert {"consensus.csv", "summary.json", "report.html", "summary.png"} <= set(written)
    discarded = [d.row for d in decided if d.row.decision == "discarded"]
    assert discarded and all((out / row.plot_path).is_file() for row in discarded)
    assert "<b>movie" not in (out / "report.html").read_text()


def test_pairs_by_name_when_common_ids_name_other_movies(tmp_path):
    movies = simulate_movies(SimulationConfig(movies=30, seed=1, failure_fraction=0.0))
    names = [m.name for m in movies]
    scipion_set(tmp_path / "movies1.sqlite", names, [m.reference for m in movies], 0.885)
    scipion_set(tmp_path / "movies2.sqlite", names[::-1], [m.secondary for m in movies][::-1],
                0.885)
    engine = SetsConsensus(options(plots="none", report=False))
    decided = engine.update(*_read(tmp_path), closed=True)
    assert engine.pairing == BY_NAME and "30 of 30 common object ids" in engine.notes[0]
    assert len(decided) == 30 and all(d.row.decision == "accepted" for d in decided)

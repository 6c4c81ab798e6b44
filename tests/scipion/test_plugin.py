"""The Scipion plugin in real Scipion projects: producers register aligned movies, the consensus
protocol runs through ``launchProtocol`` (the GUI's path, in pyworkflow's protocol-run process),
and the outputs are read back from the project's sqlite files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from pwem.objects import SetOfMicrographs, SetOfMovies
from pyworkflow.object import Set
from pyworkflow.project import Manager

from motioncons.simulation.trajectories import SimulationConfig, simulate_movies

from .plugin_helpers import (
    consensus,
    launch,
    movies_json,
    new_project,
    producer,
    wait_for,
    wait_for_outputs,
)

XMIPP = 2  # index of the xmipp fit in the protocol's choices
OUTPUTS = ("outputMovies", "outputMoviesDiscarded", "outputMicrographs",
           "outputMicrographsDiscarded")


def _reference_cases(reference_material: Path):
    data = json.loads((reference_material / "xmipp_reference_cases.json").read_text())
    refs, secs = [], []
    for i, case in enumerate(data["cases"], start=1):
        name = f"movie_{case['case']}.tif"
        refs.append((i, name, np.column_stack([case["reference"]["x"], case["reference"]["y"]])))
        secs.append((i, name, np.column_stack([case["secondary"]["x"], case["secondary"]["y"]])))
    return refs, secs, {i: case["expected"] for i, case in enumerate(data["cases"], start=1)}


def _produced(project, tmp_path: Path, refs, secs, **timing):
    first = launch(project, producer(project, movies_json(tmp_path / "reference.json", refs),
                                     **timing.get("reference", {})),
                   wait=not timing)
    second = launch(project, producer(project, movies_json(tmp_path / "secondary.json", secs),
                                      **timing.get("secondary", {})),
                    wait=not timing)
    return first, second


def _reread(project, protocol) -> dict[str, list]:
    """Every output, read from its sqlite file as a later protocol would (a fresh set)."""
    found = {}
    for name in OUTPUTS:
        output = getattr(protocol, name, None)
        if output is None:
            found[name] = []
            continue
        set_class = SetOfMovies if "Movies" in name else SetOfMicrographs
        path = Path(project.getPath(), output.getFileName())
        fresh = set_class(filename=str(path))
        fresh.loadAllProperties()
        assert fresh.getStreamState() == Set.STREAM_CLOSED, name
        found[name] = [item.clone(copyEnable=True) for item in fresh]
        fresh.close()
    return found


def _run_on_reference_cases(tmp_path: Path, reference_material: Path, name: str, **values):
    """The consensus run to its end on the original's reference cases (ids 1-9 = cases a-i)."""
    project = new_project(name)
    refs, secs, expected = _reference_cases(reference_material)
    reference, secondary = _produced(project, tmp_path, refs, secs)
    protocol = launch(project, consensus(project, reference, secondary, **values))
    protocol = project.getProtocol(protocol.getObjId())
    assert protocol.isFinished(), protocol.getErrorMessage()
    return project, protocol, refs, expected


def test_xmipp_fit_gives_the_original_protocols_outputs(tmp_path, reference_material):
    project, protocol, refs, expected = _run_on_reference_cases(tmp_path, reference_material,
                                                                "xmipp", fit=XMIPP)

    outputs = _reread(Manager().loadProject(project.getName()), protocol)
    accepted = {mic.getObjId(): mic for mic in outputs["outputMicrographs"]}
    discarded = {mic.getObjId(): mic for mic in outputs["outputMicrographsDiscarded"]}
    assert sorted([*accepted, *discarded]) == list(range(1, 10))
    for movie_id, want in expected.items():
        mic = accepted.get(movie_id) or discarded[movie_id]
        assert ("accepted" if movie_id in accepted else "discarded") == want["decision"]
        assert mic.isEnabled() == (want["decision"] == "accepted")
        for attribute, key in (("_alignment_corr", "corr"), ("_alignment_rmse_error", "rmse"),
                               ("_alignment_max_error", "max_error")):
            assert getattr(mic, attribute).get() == pytest.approx(want[key], abs=1e-9)
        assert mic._motioncons_reason.get()
    # Movies keep the reference's alignment; the micrographs are the reference producer's.
    by_id = {i: shifts for i, _, shifts in refs}
    for movie in outputs["outputMovies"] + outputs["outputMoviesDiscarded"]:
        xs, ys = movie.getAlignment().getShifts()
        np.testing.assert_array_equal(np.column_stack([xs, ys]), by_id[movie.getObjId()])
    assert {m.getObjId() for m in outputs["outputMovies"]} == set(accepted)
    assert all(mic.getFileName().endswith(".mrc") for mic in accepted.values())
    assert "8 accepted, 1 discarded" in protocol.summary()[0]


def test_default_fit_discards_case_g_and_draws_every_movie(tmp_path, reference_material):
    project, protocol, _, _ = _run_on_reference_cases(tmp_path, reference_material, "offset",
                                                      trajectoryPlot=True)
    discarded = {mic.getObjId(): mic for mic in protocol.outputMicrographsDiscarded}
    assert 7 in discarded  # case g: x disagrees, y flat
    every = [*protocol.outputMicrographs, *discarded.values()]
    assert len(every) == 9
    for mic in every:
        assert Path(project.getPath(), mic.plotCart.getFileName()).is_file()
    extra = Path(project.getPath(), protocol._getExtraPath())
    assert (extra / "report.html").is_file() and (extra / "summary.png").is_file()
    summary = json.loads((extra / "summary.json").read_text())
    assert summary["counts"]["discarded"] == len(discarded)
    assert any("Axis convention" in line for line in protocol.summary())

    from motioncons_scipion.viewers import BrowserView, MotionconsReportViewer

    views = MotionconsReportViewer(project=project)._visualize(protocol)
    assert isinstance(views[0], BrowserView) and views[0].path.endswith("extra/report.html")


def test_streaming_inputs_that_close_at_different_moments(tmp_path):
    """Two producers append over time and close at different moments; the reference has 20 %
    more movies; one movie has a NaN correlation in the xmipp fit (the original never
    finishes on either)."""
    movies = simulate_movies(SimulationConfig(movies=60, seed=8, failure_fraction=0.2))
    refs = [(i, m.name, m.reference) for i, m in enumerate(movies, start=1)]
    secs = [(i, m.name, m.secondary) for i, m in enumerate(movies, start=1)][:50]
    frames = np.arange(len(secs[3][2]), dtype=float)
    refs[3] = (4, refs[3][1], np.column_stack([np.zeros_like(frames), 0.4 * frames]))
    secs[3] = (4, secs[3][1], np.column_stack([0.3 * frames, 0.4 * frames]))
    project = new_project("stream")
    reference, secondary = _produced(
        project, tmp_path, refs, secs,
        reference={"batch": 6, "delay": 0.4, "start_delay": 1.0},
        secondary={"batch": 10, "delay": 1.0, "start_delay": 1.0})
    reference, secondary = (wait_for_outputs(project, source) for source in (reference, secondary))
    protocol = launch(project, consensus(project, reference, secondary, fit=XMIPP,
                                         pollSeconds=0.3), wait=False)
    protocol = wait_for(project, protocol, lambda p: p.isFinished(), timeout=180)

    outputs = _reread(project, protocol)
    movie_ids = [m.getObjId() for m in outputs["outputMovies"] + outputs["outputMoviesDiscarded"]]
    mic_ids = [m.getObjId() for m in outputs["outputMicrographs"]
               + outputs["outputMicrographsDiscarded"]]
    assert sorted(movie_ids) == sorted(mic_ids) == list(range(1, 51))  # each once
    nan_movie = next(m for m in outputs["outputMicrographsDiscarded"] if m.getObjId() == 4)
    assert nan_movie._motioncons_reason.get() == "nan_correlation"
    assert nan_movie._alignment_corr.get() is None or math.isnan(nan_movie._alignment_corr.get())
    # Decided while the inputs grew, not once at the end.
    log = Path(project.getPath(), protocol.getLogPaths()[0]).read_text()
    assert log.count("movie(s) decided") >= 2
    summary = json.loads(Path(project.getPath(), protocol._getExtraPath("summary.json"))
                         .read_text())
    assert summary["counts"]["only_in_reference"] == 10


def test_streaming_with_the_default_fit_waits_for_the_convention(tmp_path):
    movies = simulate_movies(SimulationConfig(movies=60, seed=9, failure_fraction=0.2))
    refs = [(i, m.name, m.reference) for i, m in enumerate(movies, start=1)]
    secs = [(i, m.name, m.secondary) for i, m in enumerate(movies, start=1)]
    project = new_project("stream_offset")
    reference, secondary = _produced(project, tmp_path, refs, secs,
                                     reference={"batch": 10, "delay": 0.5},
                                     secondary={"batch": 15, "delay": 0.5})
    reference, secondary = (wait_for_outputs(project, source) for source in (reference, secondary))
    protocol = launch(project, consensus(project, reference, secondary, pollSeconds=0.3),
                      wait=False)
    protocol = wait_for(project, protocol, lambda p: p.isFinished(), timeout=180)
    outputs = _reread(project, protocol)
    decided = {m.getObjId(): m.isEnabled() for m in
               outputs["outputMicrographs"] + outputs["outputMicrographsDiscarded"]}
    assert sorted(decided) == list(range(1, 61))
    expected = {i: m.expected == "accepted" for i, m in enumerate(movies, start=1)}
    agree = sum(decided[i] == expected[i] for i in decided)
    assert agree >= 57, agree  # the simulator's ground truth


def test_the_form_refuses_what_cannot_run(tmp_path, reference_material):
    project = new_project("form")
    refs, secs, _ = _reference_cases(reference_material)
    reference, secondary = _produced(project, tmp_path, refs, secs)
    protocol = consensus(project, reference, secondary, maxRmse="twelve")
    assert any("--max-rmse" in error for error in protocol.validate())
    protocol = consensus(project, reference, secondary, minConsCorrelation=2.0)
    assert any("--min-corr" in error for error in protocol.validate())


def test_an_empty_input_fails_naming_it(tmp_path, reference_material):
    """pyworkflow writes a set with no movie as an empty file, which says nothing of its stream
    state: the protocol tries again for a few polls, then fails with a one-line message."""
    project = new_project("empty")
    refs, _, _ = _reference_cases(reference_material)
    reference, secondary = _produced(project, tmp_path, refs, [])
    protocol = consensus(project, reference, secondary, pollSeconds=0.2)
    launch(project, protocol)
    protocol = project.getProtocol(protocol.getObjId())
    assert protocol.isFailed()
    message = protocol.getErrorMessage()
    assert "the Scipion set is empty" in message and "movies.sqlite" in message

from __future__ import annotations

import csv
import re

import gemmi
import pytest

from motioncons.pipeline import Options, run
from motioncons.simulation.trajectories import SimulationConfig, write_simulation


@pytest.mark.parametrize(("choice", "expected"), [("none", 0), ("discarded", None), ("all", 80)])
def test_plots_option_and_paths_in_outputs(tmp_path, choice, expected):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=80, seed=12,
                                                            failure_fraction=0.2))
    result = run(info["reference"], info["secondary"], tmp_path / "out", Options(plots=choice))
    discarded = sum(not r.accepted for r in result.rows)
    pngs = sorted((tmp_path / "out" / "plots").glob("*.png")) if choice != "none" else []
    assert len(pngs) == (discarded if expected is None else expected)
    with open(tmp_path / "out" / "consensus.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    with_plot = [r for r in table if r["plot_path"]]
    assert len(with_plot) == len(pngs)
    for r in with_plot:
        assert (tmp_path / "out" / r["plot_path"]).exists()
    doc = gemmi.cif.read_file(str(tmp_path / "out" / "discarded_micrographs.star"))
    plots = list(doc.find_block("micrographs").find_loop("_rlnMotionConsensusPlot"))
    assert len(plots) == discarded
    if choice != "none":
        assert all(p.startswith("plots/") for p in plots)
    assert (tmp_path / "out" / "summary.png").read_bytes()[:4] == b"\x89PNG"


def test_names_of_250_characters_get_a_plot_file_that_fits(tmp_path):
    from motioncons.pipeline import Options, run

    names = [("x" * 240) + f"_{i:03d}.tif" for i in range(3)]
    for file, sign in (("r.csv", 1), ("s.csv", -1)):  # the secondary's x is flipped
        lines = ["movie,frame,x,y,pixel_size"] + [
            f"{name},{frame},{sign * frame * (1 + i)},{frame * (i - 1) ** 2},1.0"
            for i, name in enumerate(names) for frame in range(1, 11)]
        (tmp_path / file).write_text("\n".join(lines) + "\n")
    result = run(tmp_path / "r.csv", tmp_path / "s.csv", tmp_path / "out",
                 Options(plots="all", convention="identity"))
    drawn = [row.plot_path for row in result.rows]
    assert all(drawn) and len(set(drawn)) == 3
    assert all(len(path.split("/")[-1]) < 200 and (tmp_path / "out" / path).exists()
               for path in drawn)


def test_a_run_again_keeps_its_overlays_and_one_with_force_draws_them_again(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=40, seed=12,
                                                            failure_fraction=0.3))
    out = tmp_path / "out"

    def written() -> dict[str, tuple[int, int]]:
        return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
                for p in (out / "plots").glob("*.png")}

    run(info["reference"], info["secondary"], out)
    first = written()
    assert first
    run(info["reference"], info["secondary"], out)
    assert written() == first
    run(info["reference"], info["secondary"], out, force=True)  # the folder's outputs removed
    again = written()
    assert again.keys() == first.keys() and all(again[n] != first[n] for n in first)


NAMES = ["FoilHole_123_Data_456_20240101_120000_fractions", "a", "A-b_c.d", "-lead", "_lead",
         ".hidden", "", "x" * 120, "x" * 121, "y" * 119 + ".", "sp ace", "tab\tname",
         "quote'\"", "<b>markup</b>", "slash/name", "back\\slash", "é", "name\n", "日本",
         "a" * 300 + "/../b", "..", "...", "dots.in.name", "trailing-"]


@pytest.mark.parametrize("movie", NAMES)
def test_a_plot_name_is_the_same_by_the_fast_path_and_the_general_one(movie, monkeypatch):
    from motioncons.figures import plots

    fast = plots.plot_name(movie)
    monkeypatch.setattr(plots, "_SAFE_NAME", re.compile(r"(?!)"))  # never matches
    assert fast == plots.plot_name(movie)
    stem = fast[len("plots/"): -len(".png")]
    assert fast.startswith("plots/") and fast.endswith(".png") and "/" not in stem
    assert stem == "" or not stem.startswith(".")


def test_only_rows_with_finite_trajectories_of_a_drawable_size_are_drawn():
    from dataclasses import replace

    import numpy as np

    from motioncons.figures.plots import drawable
    from motioncons.records import Row

    ref = np.cumsum(np.full((30, 2), 0.4), axis=0)
    row = Row(movie="m", decision="discarded", reason="low_correlation",
              reference_shifts=ref, secondary_fitted=ref + 1.0, sample_frames=np.arange(1, 31))
    assert drawable(row)
    assert drawable(replace(row, secondary_fitted=ref * 0 - 9.99e8))
    for odd in (np.nan, np.inf, -np.inf, 1e9, -2e12):
        changed = ref.copy()
        changed[7, 1] = odd
        assert not drawable(replace(row, reference_shifts=changed)), odd
        assert not drawable(replace(row, secondary_fitted=changed)), odd
    assert not drawable(replace(row, reference_shifts=None))
    assert not drawable(replace(row, secondary_fitted=np.zeros((0, 2))))

from __future__ import annotations

import csv

import gemmi
import numpy as np
import pytest

from motioncons.figures.plots import OverlayPlotter, nice_ticks, plot_name
from motioncons.pipeline import Options, run
from motioncons.records import Row
from motioncons.simulation.trajectories import SimulationConfig, write_simulation


def test_nice_ticks():
    assert nice_ticks(0, 10, 6) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(-3.2, 7.9, 5) == [-2.5, 0, 2.5, 5, 7.5]
    assert nice_ticks(1, 1) == [1]


def test_overlay_png_is_drawn(tmp_path):
    ref = np.cumsum(np.full((30, 2), 0.4), axis=0)
    row = Row(movie="m/1", decision="discarded", reason="low_correlation", corr=0.2,
              corr_x=0.2, corr_y=0.9, rmse_px=1.0, rmse_A=0.9, max_error_px=2.0,
              pixel_size_A=0.9, reference_shifts=ref, secondary_fitted=ref + np.array([3.0, -2.0]),
              sample_frames=np.arange(1, 31))
    path = tmp_path / plot_name(row.movie)
    OverlayPlotter().draw(row, path)
    assert path.name.startswith("m_1-") and path.suffix == ".png"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape == (500, 560, 3)
    red = (image[..., 0] > 200) & (image[..., 1] < 80) & (image[..., 2] < 80)
    blue = (image[..., 2] > 150) & (image[..., 0] < 80)
    assert red.sum() > 200 and blue.sum() > 200  # both trajectories are on the picture


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


def _row(movie: str) -> Row:
    ref = np.cumsum(np.full((30, 2), 0.4), axis=0)
    return Row(movie=movie, decision="discarded", reason="low_correlation", corr=0.2,
               corr_x=0.2, corr_y=0.9, rmse_px=1.0, rmse_A=0.9, max_error_px=2.0,
               pixel_size_A=0.9, reference_shifts=ref,
               secondary_fitted=ref + np.array([3.0, -2.0]), sample_frames=np.arange(1, 31))


def _rgb(path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_overlay_background_is_white_and_texts_keep_their_colours(tmp_path):
    path = tmp_path / "a.png"
    OverlayPlotter().draw(_row("movie_0001"), path)
    image = _rgb(path)
    assert (image[0, 0] == 255).all() and (image[-1, -1] == 255).all()
    title = image[:25]
    red = (title[..., 0] > 180) & (title[..., 1] < 80)
    assert red.sum() > 150  # the title is drawn in the decision's colour


def test_title_drawn_glyph_by_glyph_matches_the_title_drawn_whole(tmp_path):
    """The glyph cache lays out a title as Pillow would: same ink, within a pixel."""
    plotter = OverlayPlotter()
    name, tail = "FoilHole_AVTo_Wa_00017_fractions", ": discarded (low_correlation)"
    canvases = []
    for way in ("whole", "glyphs", "glyphs and tail"):
        image = plotter.background.copy()
        plotter._core = image.im
        if way == "whole":
            plotter._paste_whole((280, 14), name + tail, (214, 39, 40))
        elif way == "glyphs":
            plotter._title((280, 14), name + tail, (214, 39, 40))
        else:
            plotter._title((280, 14), name, (214, 39, 40), tail)
        canvases.append(np.asarray(image)[:30] != plotter._white)
    whole = canvases[0]
    for drawn in canvases[1:]:
        for axis in (0, 1):
            a, b = np.nonzero(drawn.any(axis=axis))[0], np.nonzero(whole.any(axis=axis))[0]
            assert abs(a[0] - b[0]) <= 1 and abs(a[-1] - b[-1]) <= 1
        assert abs(int(drawn.sum()) - int(whole.sum())) < 0.1 * whole.sum()


@pytest.mark.parametrize("movie", ["Ünïcode <b>&amp;</b> 'q\"", "e\u0301\u05d0\u05d1 name", ""])
def test_overlay_of_any_name_is_drawn(tmp_path, movie):
    path = tmp_path / "b.png"
    OverlayPlotter().draw(_row(movie), path)
    assert _rgb(path).shape == (500, 560, 3)

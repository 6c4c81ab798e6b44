from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from motioncons.figures.overlay import KEY_WORD, OverlayPlotter, nice_ticks, overlay_key
from motioncons.figures.plots import needs_drawing, plot_name, render_overlays
from motioncons.figures.png import tail_text
from motioncons.records import Row


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


@pytest.mark.parametrize("movie", ["Ünïcode <b>&amp;</b> 'q\"", "e\u0301\u05d0\u05d1 name", "",
                                   "line\nbreak", "carriage\rreturn", "\u202eoverride",
                                   "tab\tand\x01control", "z" * 400])
def test_overlay_of_any_name_is_drawn(tmp_path, movie):
    path = tmp_path / "b.png"
    OverlayPlotter().draw(_row(movie), path)
    assert _rgb(path).shape == (500, 560, 3)


def test_a_plotter_draws_each_figure_on_a_clean_canvas(tmp_path):
    """One plotter draws figure after figure on one canvas: nothing of a figure remains in the
    next (each file is what a new plotter draws)."""
    first = replace(_row("a long name for a first movie"), decision="accepted",
                    reference_shifts=_row("x").reference_shifts * -7.0)
    second = _row("movie_0002")
    plotter = OverlayPlotter()
    plotter.draw(first, tmp_path / "first.png")
    plotter.draw(second, tmp_path / "second.png")
    OverlayPlotter().draw(second, tmp_path / "alone.png")
    assert (tmp_path / "second.png").read_bytes() == (tmp_path / "alone.png").read_bytes()
    assert (tmp_path / "first.png").read_bytes() != (tmp_path / "alone.png").read_bytes()


def test_the_overlay_key_changes_with_all_the_figure_shows_and_only_with_it():
    row = _row("movie_0001")
    key = overlay_key(row)
    assert key == overlay_key(_row("movie_0001")) and len(key) == 32
    assert overlay_key(row, row.frame_numbers()) == key  # the frames given, as the figure has them
    assert overlay_key(replace(row, message="not shown", reference_path="elsewhere")) == key
    assert overlay_key(replace(row, reference_shifts=np.asfortranarray(row.reference_shifts),
                               sample_frames=np.arange(1, 31, dtype=np.int32))) == key
    assert overlay_key(replace(row, sample_frames=None)) == key  # drawn as frames 1..n
    changed = [replace(row, movie="movie_0002"), replace(row, decision="accepted"),
               replace(row, reason="high_rmse"), replace(row, corr_x=0.21),
               replace(row, corr_y=0.91), replace(row, corr=0.3), replace(row, rmse_px=1.1),
               replace(row, rmse_A=1.0), replace(row, max_error_px=2.5),
               replace(row, pixel_size_A=1.0), replace(row, sample_frames=np.arange(2, 32)),
               replace(row, reference_shifts=row.reference_shifts + 1e-9),
               replace(row, secondary_fitted=row.secondary_fitted[::-1].copy()),
               replace(row, reference_shifts=row.reference_shifts[:29],
                       secondary_fitted=row.secondary_fitted[:29],
                       sample_frames=np.arange(1, 30))]
    keys = [overlay_key(other) for other in changed]
    assert key not in keys and len(set(keys)) == len(keys)


def test_an_overlay_ends_with_its_key(tmp_path):
    row = _row("movie_0001")
    path = tmp_path / plot_name(row.movie)
    OverlayPlotter().draw(row, path)
    assert tail_text(path) == (KEY_WORD, overlay_key(row))


def test_only_the_overlays_not_on_disk_as_drawn_now_are_drawn(tmp_path):
    rows = [_row(f"movie_{i}") for i in range(4)]
    assert needs_drawing(rows, tmp_path) == rows  # a new folder
    assert render_overlays(rows, tmp_path, workers=1) == 4
    files = [tmp_path / plot_name(row.movie) for row in rows]
    written = [path.stat().st_mtime_ns for path in files]
    assert needs_drawing(rows, tmp_path) == []
    assert render_overlays(rows, tmp_path, workers=1) == 0
    assert [path.stat().st_mtime_ns for path in files] == written
    rows[0].corr_x = 0.5  # shows something else
    files[1].write_bytes(files[1].read_bytes()[:-20])  # cut short
    files[2].unlink()
    assert needs_drawing(rows, tmp_path) == rows[:3]
    assert render_overlays(rows, tmp_path, workers=1) == 3
    assert needs_drawing(rows, tmp_path) == []


@pytest.mark.parametrize("listed", [False, True])
def test_the_plots_folder_is_listed_for_many_rows_only(tmp_path, monkeypatch, listed):
    import motioncons.figures.plots as plots

    rows = [_row(f"movie_{i}") for i in range(3)]
    render_overlays(rows[:2], tmp_path, workers=1)
    listings = []
    real_scandir = plots.os.scandir
    monkeypatch.setattr(plots.os, "scandir",
                        lambda path: listings.append(path) or real_scandir(path))
    monkeypatch.setattr(plots, "LISTED_FROM", 2 if listed else 4)
    assert needs_drawing(rows, tmp_path) == rows[2:]
    assert len(listings) == listed


def test_a_named_pipe_under_an_overlay_name_is_replaced_by_the_overlay(tmp_path):
    import os

    row = _row("movie_0001")
    path = tmp_path / plot_name(row.movie)
    path.parent.mkdir()
    os.mkfifo(path)
    assert render_overlays([row], tmp_path, workers=1) == 1
    assert path.is_file() and tail_text(path) == (KEY_WORD, overlay_key(row))


def test_the_fonts_are_dejavu_sans_found_without_importing_matplotlib():
    import subprocess
    import sys

    from PIL import ImageFont

    from motioncons.figures.overlay import font_paths

    regular, bold = font_paths()
    assert ImageFont.truetype(regular).getname() == ("DejaVu Sans", "Book")
    assert ImageFont.truetype(bold).getname() == ("DejaVu Sans", "Bold")
    # Drawing overlays does not import matplotlib (0.3 s, for a run without the report).
    code = ("import sys\nfrom motioncons.figures.overlay import OverlayPlotter\n"
            "OverlayPlotter()\nprint('matplotlib' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_an_overlay_is_the_same_file_drawn_by_the_compiled_steps_and_by_numpy(tmp_path,
                                                                              monkeypatch):
    """Every step (lines, markers, glyph runs, stamps) both ways, on trajectories of every
    size, names and numbers of every kind: the same bytes."""
    from motioncons.figures import canvas

    if canvas.COMPILED is None:
        pytest.skip("the compiled steps were not built")
    rng = np.random.default_rng(21)
    rows = []
    for i, movie in enumerate(["FoilHole_1234_Data_5678_fractions", "m", "", "a b  c",
                               "x" * 300, "tab\tname", "Ünïcode", "<b>&amp;</b>"] * 3):
        n = int(rng.integers(1, 60))
        ref = rng.normal(0, 10 ** rng.uniform(-2, 2), (n, 2)).cumsum(axis=0)
        rows.append(replace(_row(movie), corr=float(rng.uniform(-1, 1)),
                            corr_x=float(rng.normal()), rmse_px=float(rng.exponential(3)),
                            max_error_px=float("nan") if i == 5 else 12345.678,
                            pixel_size_A=float(rng.choice([0.83, float("nan")])),
                            reference_shifts=ref,
                            secondary_fitted=ref + rng.normal(0, 2, (n, 2)),
                            sample_frames=np.arange(3, 3 + 2 * n, 2)))
    files = []
    for way in ("compiled", "numpy"):
        plotter = OverlayPlotter()  # its tables filled this way
        for i, row in enumerate(rows):
            plotter.draw(row, tmp_path / way / f"{i}.png")
        files.append([(tmp_path / way / f"{i}.png").read_bytes() for i in range(len(rows))])
        monkeypatch.setattr(canvas, "COMPILED", None)
    assert files[0] == files[1]


def test_pool_workers_draw_the_rows_they_inherit_and_nothing_is_kept(tmp_path):
    from motioncons.figures import plots
    from motioncons.figures.plots import rendering

    rows = [_row(f"movie_{i}") for i in range(30)]
    assert render_overlays(rows, tmp_path, workers=2) == 30
    assert all(tail_text(tmp_path / plot_name(row.movie)) == (KEY_WORD, overlay_key(row))
               for row in rows)
    assert plots._DRAWINGS == {}
    with pytest.raises(RuntimeError), rendering(rows[:1], tmp_path / "other", workers=1):
        assert len(plots._DRAWINGS) == 1
        raise RuntimeError("the body failed")
    assert plots._DRAWINGS == {}


def test_the_legend_pasted_as_one_stamp_is_the_legend_drawn(tmp_path):
    plotter = OverlayPlotter()
    assert plotter._legend is not None
    row = _row("movie_0001")
    plotter.draw(row, tmp_path / "stamp.png")
    plotter._legend = None
    plotter.draw(row, tmp_path / "drawn.png")
    assert (tmp_path / "stamp.png").read_bytes() == (tmp_path / "drawn.png").read_bytes()



def test_an_axis_drawn_in_one_compiled_call_is_the_axis_drawn_in_python(monkeypatch):
    """`canvas.axis` against `_axis`'s Python loop: the same ticks (ints and floats as
    `nice_ticks` makes them, rounded), positions, labels and lines, on ranges of every scale
    and sign, empty, reversed and undefined ones; where it declines (huge magnitudes), Python
    draws the axis."""
    from motioncons.figures import canvas, overlay

    if canvas.COMPILED is None:
        pytest.skip("the compiled steps were not built")
    rng = np.random.default_rng(5)
    cases = [(0.0, 1.0, 3), (0.0, 0.05, 3), (-3.2, 7.9, 6), (1.0, 1.0, 6), (5.0, -5.0, 6),
             (float("nan"), 1.0, 6), (0.0, float("inf"), 6), (1e-9, 3e-9, 6), (0.0, 1e17, 6),
             (-1e16, 1e16, 6), (1.0, 50.0, 8), (3.0, 4.0, 8), (1e-305, 2e-305, 6),
             (123456.7, 123456.8, 6), (0.0, 2.5e-7, 3)]
    for _ in range(300):
        centre = rng.normal(0, 10.0 ** rng.uniform(-6, 9))
        width = 10.0 ** rng.uniform(-8, 9)
        cases.append((centre - width * rng.random(), centre + width * rng.random(),
                      int(rng.choice([3, 6, 8]))))
    plotter = OverlayPlotter()

    def render(text: str) -> bytes:
        return plotter.texts.stamp(text, "mm", overlay._BLACK)

    declined = 0
    for low, high, count in cases:
        for vertical in (False, True):
            position = (float(rng.uniform(0, 400)), float(rng.choice([1.0, -1.0])),
                        float(rng.choice([1.0, 0.83, 7.0])), float(rng.normal(0, 50)),
                        float(rng.choice([1.0, 3.0])), float(rng.uniform(0.01, 40)))
            drawn = []
            for way in ("compiled", "python"):
                if way == "python":
                    monkeypatch.setattr(overlay, "axis", lambda *args: False)
                target = plotter.background.copy()
                grid: list = []
                ticks: list = []
                plotter._axis(target, low, high, count, position, vertical, (70, 480),
                              (66, 70), 64, "rm" if vertical else "mm", grid, ticks)
                drawn.append((target.tobytes(), np.array(grid, dtype=float).reshape(-1, 4),
                              np.array(ticks, dtype=float).reshape(-1, 4)))
                monkeypatch.undo()
            case = (low, high, count, position, vertical)
            assert drawn[0][0] == drawn[1][0], case
            assert np.array_equal(drawn[0][1], drawn[1][1], equal_nan=True), case
            assert np.array_equal(drawn[0][2], drawn[1][2], equal_nan=True), case
            declined += not canvas.axis(
                plotter.background.copy(), low, high, count, position, vertical, (70, 480),
                (66, 70), 64, plotter.texts.stamps("mm", overlay._BLACK), render, None, None)
    assert 0 < declined < 20


def test_both_panels_drawn_in_one_compiled_call_are_the_panels_drawn_step_by_step(
        monkeypatch):
    """The compiled panels against the step-by-step panels, on trajectories of every size and
    range, frames of every kind and pixel sizes that do and do not draw the Å axes: the same
    pixels, or nothing drawn where they decline."""
    from motioncons.figures import canvas

    if canvas.COMPILED is None:
        pytest.skip("the compiled steps were not built")
    rng = np.random.default_rng(5)
    cases = []
    for n in (1, 2, 3, 7, 40, 400):
        for magnitude in (0.0, 1e-3, 1.0, 30.0, 1e6):
            ref = rng.normal(0, magnitude, (n, 2)).cumsum(axis=0)
            sec = ref + rng.normal(0, magnitude / 3 + 1e-9, (n, 2))
            for frames in (np.arange(1, n + 1), np.arange(n, 0, -1), np.full(n, 4),
                           np.linspace(-2.5, 7.25, n)):
                for pixel_size in (1.1, float("nan"), 0.0, -1.0, 1e-12):
                    cases.append((ref, sec, frames, pixel_size))
    plotter = OverlayPlotter()
    drawn = 0
    for ref, sec, frames, pixel_size in cases:
        error = np.hypot(*(ref - sec).T)
        compiled, stepwise = plotter.background.copy(), plotter.background.copy()
        if plotter._compiled_panels(compiled, ref, sec, frames, error, pixel_size):
            drawn += 1
        else:
            assert np.array_equal(compiled, plotter.background)  # nothing drawn
            continue
        plotter._trajectories(stepwise, ref, sec, frames, pixel_size)
        plotter._errors(stepwise, frames, error)
        assert np.array_equal(compiled, stepwise), (len(ref), frames[:3], pixel_size)
    assert drawn > 0.9 * len(cases)
    huge = np.array([2.0 ** 60, 2.0 ** 60 + 4096])
    ref = np.zeros((2, 2))
    for frames in (huge, np.array([1.0, float("nan")])):
        unchanged = plotter.background.copy()
        assert not plotter._compiled_panels(unchanged, ref, ref + 1, frames, np.ones(2), 1.0)
        assert np.array_equal(unchanged, plotter.background)
    assert not plotter._compiled_panels(unchanged, ref, np.ones((3, 2)), np.arange(2),
                                        np.ones(2), 1.0)

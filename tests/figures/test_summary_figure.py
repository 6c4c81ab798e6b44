from __future__ import annotations

import io
import re
import zlib

import numpy as np
import pytest
from PIL import Image

from motioncons.figures import summary_figure
from motioncons.figures.canvas import new_canvas, paste, pixels, stamp_bytes, turned_left
from motioncons.figures.pdf import indexed_pdf
from motioncons.figures.plots import SummaryColumns, save_summary
from motioncons.pipeline import Options, run
from motioncons.simulation.trajectories import SimulationConfig, write_simulation


def _summary(paired: int, accepted: int, convention: dict | None = None,
             max_rmse: float | None = 0.9, min_corr: float = 0.75) -> dict:
    return {"parameters": {"min_corr": min_corr, "max_rmse_A": max_rmse, "max_error_A": None,
                           "min_range_px": 3.0, "fit": "offset"},
            "counts": {"paired": paired, "accepted": accepted, "discarded": paired - accepted},
            "convention": convention}


def _columns(corr, rmse=None, motion=None, accepted=None) -> SummaryColumns:
    corr = np.asarray(corr, dtype=float)
    rmse = np.asarray(corr if rmse is None else rmse, dtype=float)
    motion = np.full(corr.size, 10.0) if motion is None else np.asarray(motion, dtype=float)
    accepted = corr > 0.75 if accepted is None else np.asarray(accepted, dtype=bool)
    return SummaryColumns(corr, rmse, rmse, motion, accepted)


def _colour_at(picture: np.ndarray, palette: bytes, colour: tuple[int, int, int]) -> np.ndarray:
    rgb = np.frombuffer(palette, dtype=np.uint8).reshape(-1, 3)[picture]
    return (rgb == colour).all(axis=2)


def test_a_run_s_summary_figure_shows_its_decisions_and_threshold(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=80, seed=12,
                                                            failure_fraction=0.3))
    result = run(info["reference"], info["secondary"], tmp_path / "out", Options(plots="none"))
    figure = Image.open(tmp_path / "out" / "summary.png")
    assert figure.size == (summary_figure.WIDTH, summary_figure.HEIGHT) and figure.mode == "P"
    picture, palette = summary_figure.image(SummaryColumns.of(result.rows), result.summary)
    assert np.array_equal(np.asarray(figure), picture)
    green, red = _colour_at(picture, palette, (44, 160, 44)), _colour_at(picture, palette,
                                                                        (214, 39, 40))
    scatter = slice(summary_figure._ROWS[1], summary_figure._ROWS[1] + 227)
    assert green[scatter, :400].sum() > 20 and red[scatter, :400].sum() > 20
    # The score histogram's --min-corr line, dashed, at 0.75 of the range -1.1 to 1.1.
    left = summary_figure._COLUMNS[0]
    x = round(left + (0.75 + 1.1) / 2.2 * summary_figure._PANEL_WIDTH)
    column = red[summary_figure._ROWS[0]: summary_figure._ROWS[0] + 227, x - 1: x + 2].any(axis=1)
    assert 0.4 < column.mean() < 0.8  # dashed: drawn, then not


@pytest.mark.parametrize("columns", [
    _columns([]),  # no movie at all
    _columns([np.nan] * 5, rmse=[np.nan] * 5, motion=[0.5] * 5),  # none moved enough
    _columns([0.9, -0.2, 1.0], rmse=[np.inf, 1e300, -5.0], motion=[-3.0, np.inf, 1e12]),
    _columns([0.99], rmse=[0.0], motion=[0.0]),  # one movie, no error, no motion
    _columns(np.linspace(-1, 1, 20_000)),
], ids=["empty", "uncompared", "extreme", "one", "many"])
@pytest.mark.parametrize("convention", [
    None, {"votes": {"identity": 0, "flip_x": 0}, "applied": "identity", "scale": None},
    {"votes": {"identity": 40, "<b>odd name</b>": 3}, "applied": "identity", "scale": 0.99}])
def test_a_summary_figure_is_drawn_from_any_columns(columns, convention):
    summary = _summary(columns.corr.size, int(columns.accepted.sum()), convention)
    picture, palette = summary_figure.image(columns, summary)
    assert picture.shape == (summary_figure.HEIGHT, summary_figure.WIDTH)
    assert int(picture.max()) < len(palette) // 3
    assert (picture != picture[0, 0]).sum() > 10_000  # axes, labels and titles


def test_the_motion_axis_is_logarithmic_beyond_a_pixel_and_labelled_in_plain_numbers():
    assert summary_figure.symlog([0.0, 0.5, -1.0, 10.0, -100.0]).tolist() == \
        [0.0, 0.5, -1.0, 2.0, -3.0]
    assert summary_figure.symlog_ticks(-1.2, 3.1) == [-1.0, 0.0, 1.0, 10.0, 100.0]
    assert [summary_figure._number(v) for v in (-1.0, 0.0, 100.0, 40000.0, 0.25)] == \
        ["\N{MINUS SIGN}1", "0", "100", "40000", "0.25"]


def test_a_stamp_turned_left_is_the_stamp_s_picture_turned_about_the_point_it_is_pasted_at():
    rng = np.random.default_rng(4)
    for dx, dy, height, width in ((-3, -2, 5, 7), (0, 0, 1, 4), (2, -6, 6, 3)):
        indices = rng.integers(1, 9, size=(height, width), dtype=np.uint8)
        stamp = stamp_bytes(indices, dx, dy, 0)
        upright, turned = new_canvas(40, 40, 0), new_canvas(40, 40, 0)
        paste(upright, stamp, 20, 20)
        paste(turned, turned_left(stamp), 20, 20)
        assert np.array_equal(pixels(turned), np.rot90(pixels(upright)))


def _pdf_objects(document: bytes) -> dict[int, bytes]:
    """Each object of a PDF by number, found through its cross-reference table."""
    start = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", document).group(1))
    assert document[start:].startswith(b"xref\n0 ")
    count = int(document[start:].split(b"\n")[1].split()[1])
    entries = document[start:].split(b"\n")[3: 2 + count]
    objects = {}
    for number, entry in enumerate(entries, 1):
        offset = int(entry.split()[0])
        assert document[offset:].startswith(b"%d 0 obj\n" % number)
        objects[number] = document[offset: document.index(b"\nendobj\n", offset)]
    return objects


def test_a_pdf_page_holds_the_canvas_rows_and_palette_as_they_are():
    canvas = new_canvas(30, 20, 1)
    pixels(canvas)[5:9, 3:25] = 2
    palette = bytes([255, 255, 255, 0, 0, 0, 214, 39, 40])
    document = indexed_pdf(canvas, palette, 90)
    assert document.startswith(b"%PDF-1.4\n")
    objects = _pdf_objects(document)
    assert b"/MediaBox [0 0 24.00 16.00]" in objects[3]
    image = objects[5]
    assert b"/Width 30 /Height 20" in image and b"/Indexed /DeviceRGB 2 <ffffff000000d62728>" \
        in image and b"/Predictor 15" in image
    length = int(re.search(rb"/Length (\d+)", image).group(1))
    data = image[image.index(b"stream\n") + 7:][:length]
    assert zlib.decompress(data) == canvas.tobytes()
    with pytest.raises(ValueError, match="PDF page"):
        indexed_pdf(canvas[:, :1].copy(), palette, 90)


def test_the_summary_figure_is_a_pdf_page_where_a_pdf_is_asked_for(tmp_path):
    columns = _columns(np.linspace(-1, 1, 50))
    summary = _summary(50, int(columns.accepted.sum()))
    save_summary(columns, summary, tmp_path / "logfile.pdf")
    save_summary(columns, summary, tmp_path / "summary.png")
    objects = _pdf_objects((tmp_path / "logfile.pdf").read_bytes())
    assert b"/MediaBox [0 0 936.00 540.00]" in objects[3]  # 13 x 7.5 inches
    image = objects[5]
    data = image[image.index(b"stream\n") + 7:]
    rows = np.frombuffer(zlib.decompress(data[: int(re.search(rb"/Length (\d+)", image)
                                                        .group(1))]), dtype=np.uint8)
    picture = np.asarray(Image.open(io.BytesIO((tmp_path / "summary.png").read_bytes())))
    assert np.array_equal(rows.reshape(picture.shape[0], -1)[:, 1:], picture)

from __future__ import annotations

import numpy as np

from motioncons.figures.canvas import pixels
from motioncons.figures.overlay import OverlayPlotter


def test_title_drawn_glyph_by_glyph_matches_the_title_drawn_whole():
    """The glyph cache lays out a title as Pillow would: same ink, within a pixel."""
    plotter = OverlayPlotter()
    texts = plotter.texts
    name, tail = "FoilHole_AVTo_Wa_00017_fractions", ": discarded (low_correlation)"
    canvases = []
    for way in ("whole", "glyphs", "glyphs and tail"):
        image = plotter.background.copy()
        if way == "whole":
            texts.whole(image, (280, 14), name + tail, (214, 39, 40))
        elif way == "glyphs":
            texts.title(image, (280, 14), name + tail, (214, 39, 40))
        else:
            texts.title(image, (280, 14), name, (214, 39, 40), tail)
        canvases.append(pixels(image)[:30] != plotter.palette.white)
    whole = canvases[0]
    for drawn in canvases[1:]:
        for axis in (0, 1):
            a, b = np.nonzero(drawn.any(axis=axis))[0], np.nonzero(whole.any(axis=axis))[0]
            assert abs(a[0] - b[0]) <= 1 and abs(a[-1] - b[-1]) <= 1
        assert abs(int(drawn.sum()) - int(whole.sum())) < 0.1 * whole.sum()


def _drawn(texts, text: str, anchor: str, fill, font) -> tuple:
    """A stamp as `ImageDraw.text` draws the text: coverage on black with a pixel of margin
    around its box, mapped to the palette."""
    from PIL import Image, ImageDraw

    left, top, right, bottom = (int(v) for v in font.getbbox(text, anchor=anchor))
    size = (right - left + 2, bottom - top + 2)
    coverage = Image.new("L", size, 0)
    ImageDraw.Draw(coverage).text((1 - left, 1 - top), text, font=font, fill=255, anchor=anchor)
    indices = texts.palette.ramp(fill)[np.asarray(coverage)]
    return indices.tobytes(), size, left - 1, top - 1


def test_a_stamp_is_the_text_as_image_draw_draws_it():
    from motioncons.figures.canvas import new_canvas, paste

    texts = OverlayPlotter().texts
    numbers = [f"{v:.3g}" for v in np.random.default_rng(4).normal(0, 3, 300)]
    words = [*numbers, "corr_x", "RMSE", "Å", "x (Å)", "−1", "0", "-0.5", "1e+03", "W", "j",
             "frame", "secondary (fitted)", ": discarded (low_correlation)", ".", "_"]
    for font in ("small", "bold"):
        for anchor in ("lm", "mm", "rm", "lb", "ls"):
            for word in words:
                stamp = texts._stamp(word, anchor, (214, 39, 40), texts.fonts[font])
                indices, (width, height), left, top = _drawn(
                    texts, word, anchor, (214, 39, 40), texts.fonts[font])
                # Pasted on white at (-left, -top), the stamp fills the canvas as drawn.
                canvas = new_canvas(width, height, texts.palette.white)
                paste(canvas, stamp, -left, -top)
                assert pixels(canvas).tobytes() == indices, (word, anchor, font)
                # ... and nothing outside it: its corner is at (left, top).
                wider = new_canvas(width + 2, height + 2, texts.palette.white)
                paste(wider, stamp, 1 - left, 1 - top)
                assert pixels(wider)[1:-1, 1:-1].tobytes() == indices, (word, anchor, font)


def test_a_line_drawn_glyph_by_glyph_matches_the_line_drawn_whole():
    """A metrics line is laid out from its glyphs' advances: the width the font gives, and
    the same ink within a pixel."""
    plotter = OverlayPlotter()
    texts = plotter.texts
    small = texts.fonts["small"]
    rng = np.random.default_rng(7)
    for value in [*rng.normal(0, 3, 40), -0.996, 1e-05, 123456789.0, float("nan")]:
        number = f"{value:.3g}"
        line = f"corr_x {number}   RMSE {number} px / 1.09 Å"
        width = texts.run(None, line, len(line), (0.0, 0.0), "lm", (0, 0, 0), "small")
        assert abs(width - small.getlength(line)) < 0.5, line
        glyphs, whole = plotter.background.copy(), plotter.background.copy()
        texts.words(glyphs, (280, 34), line, (0, 0, 0))
        texts.paste(whole, (280 - small.getlength(line) / 2, 34), line, "lm", (0, 0, 0))
        drawn, expected = (pixels(image)[20:50] != plotter.palette.white
                           for image in (glyphs, whole))
        for axis in (0, 1):  # every row and column with ink has ink within a pixel in the other
            a, b = drawn.any(axis=axis), expected.any(axis=axis)
            assert not (a & ~_widened(b)).any() and not (b & ~_widened(a)).any(), line
        assert abs(int(drawn.sum()) - int(expected.sum())) < 0.1 * expected.sum(), line


def _widened(profile: np.ndarray) -> np.ndarray:
    wide = profile.copy()
    wide[1:] |= profile[:-1]
    wide[:-1] |= profile[1:]
    return wide

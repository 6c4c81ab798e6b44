from __future__ import annotations

import numpy as np

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
            texts.whole(image.im, (280, 14), name + tail, (214, 39, 40))
        elif way == "glyphs":
            texts.title(image.im, (280, 14), name + tail, (214, 39, 40))
        else:
            texts.title(image.im, (280, 14), name, (214, 39, 40), tail)
        canvases.append(np.asarray(image)[:30] != plotter.palette.white)
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
    from PIL import Image

    texts = OverlayPlotter().texts
    numbers = [f"{v:.3g}" for v in np.random.default_rng(4).normal(0, 3, 300)]
    words = [*numbers, "corr_x", "RMSE", "Å", "x (Å)", "−1", "0", "-0.5", "1e+03", "W", "j",
             "frame", "secondary (fitted)", ": discarded (low_correlation)", ".", "_"]
    for font in ("small", "bold"):
        for anchor in ("lm", "mm", "rm", "lb", "ls"):
            for word in words:
                core, mask, width, height, dx, dy = texts._stamp(
                    word, anchor, (214, 39, 40), texts.fonts[font])
                indices, size, left, top = _drawn(texts, word, anchor, (214, 39, 40),
                                                  texts.fonts[font])
                assert ((width, height), dx, dy) == (size, left, top), (word, anchor, font)
                drawn = Image.Image()._new(core).tobytes()
                assert drawn == indices, (word, anchor, font)
                ink = np.frombuffer(indices, dtype=np.uint8) != texts.palette.white
                assert Image.Image()._new(mask).tobytes() == (ink * 255).astype(
                    np.uint8).tobytes()

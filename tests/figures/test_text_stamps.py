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

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from motioncons.figures.palette import WHITE, Palette

COLOURS = [(0, 0, 0), (251, 251, 251), (214, 39, 40), (240, 200, 200), WHITE]


def test_every_colour_maps_to_itself_and_others_to_the_nearest():
    palette = Palette(COLOURS)
    assert palette.nearest(np.array(COLOURS)).tolist() == list(range(len(COLOURS)))
    # Pillow's approximate search maps white to (251, 251, 251); this one does not.
    assert palette.nearest(np.array([[255, 255, 255], [254, 254, 254], [10, 0, 0],
                                     [212, 40, 40]])).tolist() == [4, 4, 0, 2]
    image = palette.indexed(Image.new("RGB", (3, 2), (213, 38, 41)))
    assert image.mode == "P" and np.asarray(image).tolist() == [[2, 2, 2], [2, 2, 2]]


def test_a_ramp_goes_from_white_to_the_colour():
    palette = Palette(COLOURS)
    ramp = palette.ramp((214, 39, 40))
    assert ramp.shape == (256,) and ramp.dtype == np.uint8
    assert ramp[0] == palette.white and ramp[255] == 2 and 3 in ramp.tolist()


@pytest.mark.parametrize("colours", [[], [(0, 0, 0)], [(i, i, i) for i in range(256)] + [WHITE]])
def test_a_palette_needs_white_and_at_most_256_colours(colours):
    with pytest.raises(ValueError):
        Palette(colours)

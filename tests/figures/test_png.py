from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from motioncons.figures.png import indexed_png


def test_indexed_png_reads_back_as_written(deflate_library):
    rng = np.random.default_rng(3)
    indices = rng.integers(0, 7, size=(33, 41), dtype=np.uint8)
    indices[:10] = 6  # runs, as in a figure
    palette = bytes(range(21))
    image = Image.open(io.BytesIO(indexed_png(indices, palette)))
    image.load()
    assert image.mode == "P" and image.size == (41, 33)
    assert np.array_equal(np.asarray(image), indices)
    assert image.getpalette()[:21] == list(palette)


@pytest.mark.parametrize(("indices", "palette"), [
    (np.zeros((2, 2), dtype=np.int32), b"\0\0\0"),
    (np.full((2, 2), 2, dtype=np.uint8), b"\0\0\0\1\1\1"),
    (np.zeros((2, 2), dtype=np.uint8), b""),
    (np.zeros((2, 2), dtype=np.uint8), b"\0\0\0\1"),
])
def test_indexed_png_refuses_what_it_cannot_encode(indices, palette):
    with pytest.raises(ValueError):
        indexed_png(indices, palette)

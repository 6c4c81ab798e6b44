"""A fixed palette for figures drawn in palette indices (Pillow "P" images), with the nearest
palette colour of any RGB colour computed exactly (Pillow's `quantize` searches approximately:
it maps white to light grey)."""

from __future__ import annotations

from typing import Any

import numpy as np

WHITE = (255, 255, 255)


class Palette:
    """At most 256 RGB colours; white must be one of them (the figures' background)."""

    def __init__(self, colours: list[tuple[int, int, int]]) -> None:
        if not 0 < len(colours) <= 256 or WHITE not in colours:
            raise ValueError("a palette holds 1 to 256 colours, white among them")
        self.colours = list(colours)
        self.index = {colour: i for i, colour in enumerate(self.colours)}
        """The palette index of each colour (the ink of lines and markers)."""
        self.data = bytes(value for colour in self.colours for value in colour)
        """The RGB triplets, as a PNG's PLTE chunk holds them."""
        self.white = self.index[WHITE]
        self._rgb = np.array(self.colours, dtype=np.int64)
        self._ramps: dict[tuple[int, int, int], np.ndarray] = {}

    def nearest(self, rgb: np.ndarray) -> np.ndarray:
        """The index of the nearest palette colour (Euclidean, in RGB) of each colour of an
        (..., 3) array, as uint8."""
        pixels = np.asarray(rgb, dtype=np.int64)
        keys = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
        distinct, where = np.unique(keys, return_inverse=True)
        colours = np.stack([distinct >> 16, (distinct >> 8) & 255, distinct & 255], axis=1)
        distances = ((colours[:, None, :] - self._rgb[None, :, :]) ** 2).sum(axis=2)
        return distances.argmin(axis=1).astype(np.uint8)[where].reshape(keys.shape)

    def indexed(self, image: Any) -> Any:
        """A Pillow image mapped to the palette (a "P" image)."""
        from PIL import Image

        indexed = Image.frombytes("P", image.size,
                                  self.nearest(np.asarray(image.convert("RGB"))).tobytes())
        indexed.putpalette(self.data)
        return indexed

    def ramp(self, fill: tuple[int, int, int]) -> np.ndarray:
        """The palette index of `fill` drawn over white at each coverage 0..255 (anti-aliased
        text)."""
        ramp = self._ramps.get(fill)
        if ramp is None:
            coverage = np.arange(256)[:, None] / 255
            ramp = self._ramps[fill] = self.nearest(
                np.rint(255 + (np.array(fill) - 255) * coverage))
        return ramp

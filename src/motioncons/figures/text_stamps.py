"""Text pasted into a palette image from a cache of stamps: rendering glyphs is most of the
cost of a figure, and its texts (tick values, frame numbers, legend labels, the glyphs of
metrics lines and titles) repeat from figure to figure.

A stamp (`canvas.stamp_bytes`) is the text as it would be drawn on white, already in the
palette (each coverage level of the glyphs mapped to the nearest blend of the text's colour
with white); its white pixels are not drawn. Pasting it onto a `canvas` is one compiled call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import canvas as _canvas
from .palette import Palette

Colour = tuple[int, int, int]
MAX_CACHED = 50_000

class TextStamps:
    """Texts in a `small` and a `bold` font, and any `others` by name (Pillow FreeType fonts),
    in `palette`'s colours."""

    def __init__(self, palette: Palette, small: Any, bold: Any, **others: Any) -> None:
        from PIL import Image

        self._image = Image
        self.palette = palette
        self.fonts = {"small": small, "bold": bold, **others}
        # Of each anchor, colour and font, the stamp of each text drawn (`stamps`).
        self._stamps: dict[tuple[str, Colour, str], dict[str, bytes]] = {}
        self._cached = 0
        self._widths: dict[tuple[str, str], float] = {}
        # Of each font, the advance of each pair of characters that was set (`_advance`).
        self._advances: dict[str, dict[str, float]] = {name: {} for name in self.fonts}
        # Of each anchor, colour and font, the stamp of each character that was drawn.
        self._glyph_tables: dict[tuple[str, Colour, str], dict[str, bytes]] = {}
        # How far below an "mm" anchor the baseline of a bold line lies.
        self._bold_baseline = bold.getbbox("x", anchor="mm")[1] - bold.getbbox("x",
                                                                             anchor="ls")[1]

    def paste(self, canvas: np.ndarray, xy: tuple[float, float], text: str, anchor: str,
              fill: Colour, font: str = "small") -> None:
        """`text` at `xy` (Pillow's anchor) on `canvas` (`canvas.new_canvas`)."""
        stamp = self.stamps(anchor, fill, font).get(text)
        if stamp is None:
            stamp = self.stamp(text, anchor, fill, font)
        _canvas.paste(canvas, stamp, *xy)

    def stamps(self, anchor: str, fill: Colour, font: str = "small") -> dict[str, bytes]:
        """The stamps made so far of the texts of one anchor, colour and font, by text (what
        compiled code looks a text up in, calling `stamp` for one not in it)."""
        key = (anchor, fill, font)
        table = self._stamps.get(key)
        if table is None:
            table = self._stamps[key] = {}
        return table

    def stamp(self, text: str, anchor: str, fill: Colour, font: str = "small") -> bytes:
        """The stamp of `text`, made and kept (up to `MAX_CACHED`) if it was not."""
        table = self.stamps(anchor, fill, font)
        stamp = table.get(text)
        if stamp is None:
            stamp = self._stamp(text, anchor, fill, self.fonts[font])
            if self._cached < MAX_CACHED:
                table[text] = stamp
                self._cached += 1
        return stamp

    def words(self, canvas: np.ndarray, centre: tuple[float, float], text: str,
              fill: Colour) -> None:
        """A line of small text centred on `centre`, glyph by glyph (a metrics line's numbers
        seldom repeat: a stamp of each new one cost a fifth of a figure, and stamps of its
        words cost twice the glyphs)."""
        width = self.run(None, text, len(text), (0.0, 0.0), "lm", fill, "small")
        self.run(canvas, text, len(text), (centre[0] - width / 2, centre[1]), "lm", fill,
                 "small")

    def run(self, canvas: np.ndarray | None, text: str, count: int,
            start: tuple[float, float], anchor: str, fill: Colour, font: str) -> float:
        """The first `count` characters of `text`, glyph by glyph from `start`: each glyph
        after the advances of those before it, each advance as the font sets the pair of a
        character and the next one of `text` (kerning included; the character alone at the
        end). Spaces are not drawn; with `canvas` None, nothing is. Returns the sum of the
        advances. Compiled where it can be (`canvas.glyph_run`), else here, filling the
        tables the compiled one reads."""
        glyphs = self._glyphs_of(anchor, fill, font)
        advances = self._advances[font]
        x, y = start
        done = _canvas.glyph_run(canvas, text, count, x, y, glyphs, advances)
        if done is not None:
            return done
        offset = 0.0
        for i in range(count):
            char = text[i]
            if canvas is not None and char != " ":
                stamp = glyphs.get(char)
                if stamp is None:
                    stamp = glyphs[char] = self._stamp(char, anchor, fill, self.fonts[font])
                _canvas.paste(canvas, stamp, x + offset, y)
            offset += self._advance(text[i: i + 2], font)
        return offset

    def _glyphs_of(self, anchor: str, fill: Colour, font: str) -> dict[str, bytes]:
        key = (anchor, fill, font)
        table = self._glyph_tables.get(key)
        if table is None:
            table = self._glyph_tables[key] = {}
        return table

    def title(self, canvas: np.ndarray, centre: tuple[float, float], text: str, fill: Colour,
              tail: str = "") -> None:
        """The bold line `text` + `tail` centred on `centre`: `text` (a movie name) glyph by
        glyph, each glyph advanced as the font sets the pair it ends (kerning included), and
        `tail` (which repeats from figure to figure) as one stamp. Characters that do not print
        (line breaks, controls, direction overrides) are shown as "?"; a line that is not ASCII
        (combining marks, right-to-left names) is rendered whole."""
        if not text.isprintable():
            text = "".join(char if char.isprintable() else "?" for char in text)
        whole = text + tail
        if not whole.isascii():
            self.whole(canvas, centre, whole, fill)
            return
        # The glyphs of `text`, the last one advanced as the font sets it before `tail`.
        glyphs = self.run(None, whole, len(text), (0.0, 0.0), "ls", fill, "bold")
        width = glyphs + (self._width(tail, "bold") if tail else 0.0)
        left = centre[0] - width / 2
        baseline = centre[1] + self._bold_baseline
        self.run(canvas, whole, len(text), (left, baseline), "ls", fill, "bold")
        if tail:
            self.paste(canvas, (left + glyphs, baseline), tail, "ls", fill, "bold")

    def whole(self, canvas: np.ndarray, centre: tuple[float, float], text: str,
              fill: Colour) -> None:
        """A bold line centred on `centre`, rendered as one piece and not cached; a text the
        layout engine refuses is drawn with its non-ASCII characters as "?"."""
        try:
            stamp = self._stamp(text, "mm", fill, self.fonts["bold"])
        except (OSError, ValueError, RuntimeError):
            ascii_text = "".join(c if c.isascii() and c.isprintable() else "?" for c in text)
            stamp = self._stamp(ascii_text, "mm", fill, self.fonts["bold"])
        _canvas.paste(canvas, stamp, *centre)

    def _stamp(self, text: str, anchor: str, fill: Colour, font: Any) -> bytes:
        """The text's coverage, as ``ImageDraw.text`` would draw it in white on black with a
        pixel of margin (its bitmap is placed at its box's corner: `font.getbbox` is the box
        of the bitmap), mapped to the palette. Rendered by the font itself: drawing it costs
        three times as much (a stamp is made for each new number of a figure's metrics)."""
        bitmap, (left, top) = font.getmask2(text, "L", anchor=anchor)
        width, height = bitmap.size
        coverage = np.zeros((height + 2, width + 2), dtype=np.uint8)
        if width and height:
            coverage[1:-1, 1:-1] = np.asarray(self._image.Image()._new(bitmap))
        return _canvas.stamp_bytes(self.palette.ramp(fill)[coverage], left - 1, top - 1,
                                   self.palette.white)

    def _advance(self, pair: str, font: str) -> float:
        """How far the second glyph of a `pair` starts after the first (kerning included); of
        a single glyph, its width."""
        advances = self._advances[font]
        advance = advances.get(pair)
        if advance is None:
            face = self.fonts[font]
            advance = float(face.getlength(pair) - face.getlength(pair[1:]))
            if len(advances) < MAX_CACHED:
                advances[pair] = advance
        return advance

    def _width(self, text: str, font: str) -> float:
        """The width of `text` in `font`."""
        key = (text, font)
        width = self._widths.get(key)
        if width is None:
            width = self.fonts[font].getlength(text)
            if len(self._widths) < MAX_CACHED:
                self._widths[key] = width
        return width

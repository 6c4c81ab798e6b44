"""Indexed-colour PNG files, encoded here rather than by Pillow: encoding is most of an
overlay's cost, and `deflate.fastest` takes a fifth of the time of Pillow's zlib for smaller
files.

A file may end with one text chunk (``tEXt``, just before ``IEND``): `tail_text` reads it from
the file's last bytes, without decoding the image. A file cut short loses it.
"""

from __future__ import annotations

import functools
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np

from ..deflate import fastest

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(payload, zlib.crc32(kind))))


_END = b"IEND"
_ENDING = _chunk(_END, b"")
_IDAT = b"IDAT"
_IDAT_CRC = zlib.crc32(_IDAT)
_TEXT = b"tEXt"
MAX_TAIL_TEXT = 200
"""The longest keyword and text, together, that `tail_text` reads back."""


def indexed_png(indices: np.ndarray, palette: bytes, text: tuple[str, str] | None = None
                ) -> bytes:
    """The PNG of an image of palette indices (uint8, shape (height, width)); `palette` is the
    RGB triplets of the colours, at most 256, that the indices point to. `text`, a keyword and
    its text (printable ASCII), is written in the file's last chunk before its end."""
    height, width = indices.shape
    if indices.dtype != np.uint8:
        raise ValueError("an indexed PNG needs uint8 indices")
    if indices.size and int(indices.max()) >= len(palette) // 3:
        raise ValueError("a palette index points past the palette")
    rows = np.zeros((height, width + 1), dtype=np.uint8)  # filter type 0 (none) on every row
    rows[:, 1:] = indices
    return indexed_png_rows(rows, palette, text)


def indexed_png_rows(rows: np.ndarray, palette: bytes, text: tuple[str, str] | None = None
                     ) -> bytes:
    """`indexed_png` of an image given as its PNG rows: uint8, shape (height, 1 + width), each
    row its filter byte (0, none) and its pixels (a `canvas`), compressed as they are. The
    pixels are not checked against the palette (a canvas is drawn in it; checking costs a
    tenth of an overlay's encoding)."""
    height, width = rows.shape[0], rows.shape[1] - 1
    colours = len(palette) // 3
    if (rows.dtype != np.uint8 or rows.ndim != 2 or not rows.flags.c_contiguous
            or not 0 < colours <= 256 or len(palette) != 3 * colours):
        raise ValueError("an indexed PNG needs C-contiguous uint8 rows and 1 to 256 RGB "
                         "palette colours")
    if rows.size and rows[:, 0].any():
        raise ValueError("a row's filter byte is not 0")
    data = fastest(rows.data)
    tail = b"" if text is None else _chunk(_TEXT, _text_payload(*text))
    # The image data's chunk in place (not `_chunk`): its payload is copied once, by the join.
    return b"".join((_head(width, height, palette), struct.pack(">I", len(data)), _IDAT, data,
                     struct.pack(">I", zlib.crc32(data, _IDAT_CRC)), tail, _ENDING))


@functools.lru_cache(maxsize=16)
def _head(width: int, height: int, palette: bytes) -> bytes:
    """What comes before the image data: the signature, the header and the palette (the same
    for every overlay)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"PLTE", palette)



def _text_payload(keyword: str, text: str) -> bytes:
    if not (0 < len(keyword) < 80 and len(keyword) + 1 + len(text) <= MAX_TAIL_TEXT
            and (keyword + text).isascii() and (keyword + text).isprintable()):
        raise ValueError(f"not a PNG text chunk of at most {MAX_TAIL_TEXT} printable ASCII "
                         f"characters: {keyword!r}")
    return keyword.encode("ascii") + b"\0" + text.encode("ascii")


def tail_text(path: str | Path) -> tuple[str, str] | None:
    """The keyword and text of the text chunk that ends the PNG file `path` (`indexed_png`), or
    None: no such chunk, a file cut short or damaged there, one that cannot be read, or not a
    regular file."""
    try:
        # Not blocking: a named pipe under the name must not stop a run.
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            return None
        tail = MAX_TAIL_TEXT + 24
        os.lseek(handle, max(info.st_size - tail, 0), os.SEEK_SET)
        data = os.read(handle, tail)
    except OSError:
        return None
    finally:
        os.close(handle)
    end = _ENDING
    if not data.endswith(end):
        return None
    # The chunk's type, searched for from the end: the last one that is a sound chunk ending
    # where IEND starts.
    found = len(data) - len(end) - 4
    while (found := data.rfind(_TEXT, 4, found + 3)) >= 4:
        start = found - 4
        (length,) = struct.unpack(">I", data[start: start + 4])
        payload = data[start + 8: start + 8 + length]
        if start + 12 + length != len(data) - len(end) or struct.unpack(
                ">I", data[start + 8 + length: start + 12 + length])[0] != zlib.crc32(
                payload, zlib.crc32(_TEXT)):
            continue  # "tEXt" inside the text, or a damaged chunk
        keyword, _, text = payload.partition(b"\0")
        try:
            return keyword.decode("ascii"), text.decode("ascii")
        except UnicodeDecodeError:
            return None
    return None

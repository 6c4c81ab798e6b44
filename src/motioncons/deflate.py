"""zlib streams, fast: Intel's ISA-L deflate (the ``isal`` package) is five to ten times faster
than zlib at the same compression, and zlib is the fallback where ``isal`` is not installed.
The streams are standard zlib data either way (PNG's IDAT, the browser's DecompressionStream)."""

from __future__ import annotations

import zlib
from typing import Any

try:
    from isal import isal_zlib
except ImportError:  # pragma: no cover - isal has wheels for the usual platforms
    isal_zlib = None  # type: ignore[assignment]


def fastest(data: bytes | memoryview) -> bytes:
    """For data that is mostly runs of one byte (an indexed figure): ISA-L's level 1, else
    zlib's level 1 with its run-length strategy."""
    if isal_zlib is not None:
        return bytes(isal_zlib.compress(data, 1))
    compressor = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    return compressor.compress(data) + compressor.flush()


def compact_compressor() -> Any:
    """For text and tables given in pieces (a compressor object: ``compress``, ``flush``):
    ISA-L's level 2, else zlib's level 4. On a report of 50,000 movies, ISA-L's levels 2 and 3
    are within 1 % of each other's size (and of zlib's level 4), level 3 taking 1.5 to 2.5 times
    as long; zlib's level 9 is 2 % smaller and 15 times slower."""
    return isal_zlib.compressobj(2) if isal_zlib is not None else zlib.compressobj(4)


def fastest_text(data: bytes | memoryview) -> bytes:
    """For text kept in memory and read again soon: ISA-L's level 1, else zlib's level 1."""
    if isal_zlib is not None:
        return bytes(isal_zlib.compress(data, 1))
    return zlib.compress(data, 1)


def inflate(data: bytes) -> bytes:
    """The data of a zlib stream (made by either library)."""
    if isal_zlib is not None:
        return bytes(isal_zlib.decompress(data))
    return zlib.decompress(data)


def compressor() -> Any:
    """A compressor object (``compress``, ``flush``) for data given in pieces: ISA-L's level
    1, else zlib's level 1."""
    return isal_zlib.compressobj(1) if isal_zlib is not None else zlib.compressobj(1)

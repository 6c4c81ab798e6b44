from __future__ import annotations

import zlib

import pytest

from motioncons import deflate

DATA = b"".join(b"\x07" * 500 + bytes(range(i % 256)) for i in range(300))


@pytest.mark.parametrize("compress", [deflate.fastest, deflate.fastest_text])
def test_streams_are_standard_zlib_data(compress, deflate_library):
    packed = compress(DATA)
    assert isinstance(packed, bytes) and len(packed) < len(DATA) // 4
    assert zlib.decompress(packed) == DATA
    assert compress(b"") and zlib.decompress(compress(b"")) == b""


@pytest.mark.parametrize("make", [deflate.compressor, deflate.compact_compressor])
def test_compressor_in_pieces_is_standard_zlib_data(make, deflate_library):
    packer = make()
    pieces = [packer.compress(DATA[i: i + 7000]) for i in range(0, len(DATA), 7000)]
    assert zlib.decompress(b"".join([*pieces, packer.flush()])) == DATA


def test_inflate_reads_either_library_s_streams(deflate_library):
    assert deflate.inflate(zlib.compress(DATA, 6)) == DATA
    assert deflate.inflate(deflate.fastest_text(DATA)) == DATA

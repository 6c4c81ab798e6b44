from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from motioncons.figures.png import indexed_png, tail_text


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


def _png(text=None) -> bytes:
    return indexed_png(np.zeros((4, 5), dtype=np.uint8), b"\xff\xff\xff", text)


def test_a_text_chunk_ends_the_file_and_is_read_from_its_tail(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(_png(("motioncons overlay", "0123abcd")))
    assert tail_text(path) == ("motioncons overlay", "0123abcd")
    image = Image.open(path)
    image.load()
    assert image.text == {"motioncons overlay": "0123abcd"}  # a standard tEXt chunk
    path.write_bytes(_png(("key", "text with tEXt inside")))
    assert tail_text(path) == ("key", "text with tEXt inside")


@pytest.mark.parametrize("damage", ["none", "cut", "crc", "missing", "empty"])
def test_a_file_without_its_text_chunk_intact_has_no_tail_text(tmp_path, damage):
    data = _png(("key", "value"))
    text_start = data.rindex(b"tEXt") - 4
    path = tmp_path / "a.png"
    path.write_bytes({"none": _png(), "cut": data[:-5], "crc": data[:-16] + b"\0" + data[-15:],
                      "missing": data[:text_start], "empty": b""}[damage])
    assert tail_text(path) is None
    assert tail_text(tmp_path / "absent.png") is None


@pytest.mark.parametrize("text", [("", "v"), ("k" * 80, "v"), ("k", "line\nbreak"), ("k", "é"),
                                  ("k", "v" * 300)])
def test_a_text_chunk_that_cannot_be_read_back_is_refused(text):
    with pytest.raises(ValueError, match="text chunk"):
        _png(text)


def test_a_named_pipe_or_a_folder_has_no_tail_text_and_does_not_block(tmp_path):
    import os
    import threading

    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "folder.png").mkdir()
    found: list[object] = []
    reader = threading.Thread(target=lambda: found.extend(
        tail_text(tmp_path / name) for name in ("pipe.png", "folder.png")), daemon=True)
    reader.start()
    reader.join(10)
    assert found == [None, None]

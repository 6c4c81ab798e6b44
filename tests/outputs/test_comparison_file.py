"""``consensus_data.npz``: its metadata JSON and its joined arrays are written piece by piece
(bounded memory), as ``json.dumps`` and ``np.save`` write them whole."""

from __future__ import annotations

import io
import json
import math
import zlib

import numpy as np
import pytest

from motioncons.formats.relion import RelionMicrographTable
from motioncons.outputs.comparison_file import (
    _compressed_json_parts,
    _Joined,
    _json_pieces,
    _Rows,
    _table,
    _untable,
)


def test_the_metadata_is_written_piece_by_piece_as_json_dumps_writes_it():
    value = {"version": 1, "valid": [[f"m{i}", i * 0.5, None, math.nan, True] for i in range(25)],
             "table": {"rows": [["a b", "'q'", "ü"]] * 9, "row_keys": [], "optics": {1: "x"}},
             "notes": ["<b>&</b>"], "options": {"max_rmse": "auto", "pixel_size": None}}
    for chunk in (1, 4, 1000):
        assert "".join(_json_pieces(value, chunk)) == json.dumps(value)
    compressed = _compressed_json_parts(value)
    assert zlib.decompress(b"".join(compressed)).decode() == json.dumps(value)
    assert all(compressed)


def test_rows_made_a_chunk_at_a_time_are_written_as_their_list():
    items = [(f"m{i}", i / 3) for i in range(11)]
    made = []

    def make(item):
        made.append(item)
        return [*item, {"n": len(made)}]

    for chunk in (1, 4, 11, 1000):
        made.clear()
        lazy = {"valid": _Rows(items, make), "empty": _Rows([], make)}
        expected = {"valid": [[*item, {"n": i + 1}] for i, item in enumerate(items)],
                    "empty": []}
        assert "".join(_json_pieces(lazy, chunk)) == json.dumps(expected)


@pytest.mark.parametrize("parts, dtype", [
    ([np.arange(6.0).reshape(3, 2), np.ones((2, 2))], None),
    ([np.ones((2, 2), dtype=np.float32)] * 3, None),
    ([np.arange(1, 4), np.arange(1, 6)], np.dtype(np.int32)),
    ([], None),
    ([], np.dtype(np.int32)),
    ([np.asfortranarray(np.arange(8.0).reshape(4, 2))] * 2, None),  # Fortran order
    ([np.arange(12.0).reshape(2, 6)[:, ::3], np.ones((1, 2))], None),  # strided
])
def test_joined_arrays_are_written_as_np_save_writes_their_concatenation(parts, dtype):
    expected = io.BytesIO()
    joined = np.concatenate(parts) if parts else (
        np.zeros(0, dtype=dtype) if dtype else np.zeros((0, 2)))
    np.save(expected, np.ascontiguousarray(joined.astype(dtype) if dtype else joined))
    written = io.BytesIO()
    _Joined(parts, joined.shape[1:], dtype).write(written, chunk=2)
    assert written.getvalue() == expected.getvalue()
    by_size = io.BytesIO()
    _Joined(parts, joined.shape[1:], dtype).write(by_size, size=20)
    assert by_size.getvalue() == expected.getvalue()


def test_a_relion_table_stored_with_rows_of_values_loads_as_lines():
    """Folders written before the table kept one line a row can still be decided again."""
    rows = [["M/a.mrc", "1"], ["M/ü.mrc", "2"]]
    stored = {"kind": "relion", "path": "m.star", "preamble": "# version 30001\n",
              "block_name": "micrographs", "tags": ["_rlnMicrographName", "_rlnOpticsGroup"],
              "rows": rows, "row_keys": ["a", "ü"], "movie_names": ["a.tiff", None],
              "optics": {"_rlnOpticsGroup": ["1", "2"]}}
    expected = RelionMicrographTable.from_rows(
        "m.star", "# version 30001\n", "micrographs", stored["tags"], rows, ["a", "ü"],
        {"_rlnOpticsGroup": ["1", "2"]})
    assert _untable(stored, None) == expected
    assert expected.lines == ["M/a.mrc 1", '"M/ü.mrc" 2']
    data, records = _table(expected)
    assert records is None and _untable(data, None) == expected

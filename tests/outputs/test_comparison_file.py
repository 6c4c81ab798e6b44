"""``consensus_data.npz``: its metadata JSON is written piece by piece (bounded memory)."""

from __future__ import annotations

import json
import math
import zlib

from motioncons.outputs.comparison_file import _compressed_json, _json_pieces


def test_the_metadata_is_written_piece_by_piece_as_json_dumps_writes_it():
    value = {"version": 1, "valid": [[f"m{i}", i * 0.5, None, math.nan, True] for i in range(25)],
             "table": {"rows": [["a b", "'q'", "ü"]] * 9, "row_keys": [], "optics": {1: "x"}},
             "notes": ["<b>&</b>"], "options": {"max_rmse": "auto", "pixel_size": None}}
    for chunk in (1, 4, 1000):
        assert "".join(_json_pieces(value, chunk)) == json.dumps(value)
    assert zlib.decompress(_compressed_json(value)).decode() == json.dumps(value)

"""``consensus_data.npz``: its metadata JSON and its joined arrays are written piece by piece
(bounded memory), as ``json.dumps`` and ``np.save`` write them whole."""

from __future__ import annotations

import io
import json
import math
import zlib

import numpy as np
import pytest

from motioncons.errors import InputError
from motioncons.formats.relion import RelionMicrographTable
from motioncons.outputs.comparison_file import (
    FILE,
    _compressed_json_parts,
    _Joined,
    _json_pieces,
    _Rows,
    _table,
    _untable,
    load,
)
from motioncons.pipeline import Options, decide, run
from motioncons.simulation.trajectories import write_relion_job
from motioncons.trajectory import pixels


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


def _relion_run(tmp_path):
    """A run of two simulated RELION jobs (shifts read from text: held as millionths)."""
    rng = np.random.default_rng(8)
    names = [f"Movies/m_{i}.tif" for i in range(6)]
    shifts = [np.round(np.cumsum(rng.normal(0.8, 0.5, (16, 2)), axis=0), 4) for _ in names]
    noisy = [s + np.round(rng.normal(0, 0.3 * (i % 3), s.shape), 4) for i, s in enumerate(shifts)]
    reference = write_relion_job(tmp_path, "MotionCorr/job002", names, shifts, 1.1)
    secondary = write_relion_job(tmp_path, "MotionCorr/job003", names, noisy, 1.1)
    return run(reference, secondary, tmp_path / "out", Options(plots="none", report=False))


def _rewritten(folder, change):
    """The folder's npz with its arrays and metadata changed by `change(arrays, meta)`."""
    path = folder / FILE
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    meta = json.loads(zlib.decompress(arrays["meta"].tobytes()))
    change(arrays, meta)
    arrays["meta"] = np.frombuffer(zlib.compress(json.dumps(meta).encode()), dtype=np.uint8)
    with open(path, "wb") as stream:
        np.savez(stream, **arrays)


def test_samples_read_from_text_are_stored_as_millionths_and_load_as_the_same_pixels(tmp_path):
    result = _relion_run(tmp_path)
    with np.load(tmp_path / "out" / FILE, allow_pickle=False) as data:
        assert data["reference"].dtype == np.int32 and data["secondary"].dtype == np.int32
        stored = data["reference"] / 1e6
    comparison, _ = load(tmp_path / "out")
    loaded = np.concatenate([pixels(v.samples.reference) for v in comparison.valid])
    assert np.array_equal(loaded, stored)
    again = decide(tmp_path / "out")
    assert [(r.movie, r.corr, r.rmse_px) for r in again.rows] == \
        [(r.movie, r.corr, r.rmse_px) for r in result.rows]


def test_a_version_1_folder_with_samples_in_pixels_is_decided_as_before(tmp_path):
    result = _relion_run(tmp_path)
    csv_before = (tmp_path / "out" / "consensus.csv").read_bytes()

    def to_version_1(arrays, meta):
        for side in ("reference", "secondary"):
            arrays[side] = arrays[side] / 1e6
        meta["version"] = 1

    _rewritten(tmp_path / "out", to_version_1)
    again = decide(tmp_path / "out")
    assert [(r.movie, r.corr, r.rmse_px) for r in again.rows] == \
        [(r.movie, r.corr, r.rmse_px) for r in result.rows]
    assert (tmp_path / "out" / "consensus.csv").read_bytes() == csv_before


def test_millionths_in_a_version_1_file_are_refused_not_taken_for_pixels(tmp_path):
    _relion_run(tmp_path)
    _rewritten(tmp_path / "out", lambda arrays, meta: meta.update(version=1))
    with pytest.raises(InputError, match="samples of type int32"):
        load(tmp_path / "out")

"""``consensus_data.npz``: what exact re-decision needs, so ``motioncons decide`` never reads
the inputs again.

A numpy ``.npz`` (a zip of ``.npy`` arrays; no pickles: it is loaded with
``allow_pickle=False``):

- ``lengths`` (N,), ``frames`` (ΣK,, int32), ``reference`` and ``secondary`` (ΣK, 2): the
  common samples of each comparable pair, in the order of ``meta.valid``, as the pairs hold
  them: int32 millionths of a pixel when every pair holds them so (the shifts read from text,
  `trajectory.as_micro`: half the bytes, the same floats once divided), else float64 pixels
  (version 1 always wrote pixels);
- ``meta``: one zlib-compressed UTF-8 JSON text (a uint8 array) with, per comparable pair, its
  key, movie name, result files, resampling flag, pixel size and the reference's accumulated
  motion (px, all and early frames);
  the rows of the pairs that cannot be compared; the unpaired and duplicated movies; the input
  summaries and notes; the options the pairs were made with; and the reference's table for the
  subsets (RELION and Scipion as JSON, cryoSPARC as the array ``cryosparc_records``).
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np

from ..deflate import compressor
from ..errors import InputError
from ..evaluation import Comparison, ValidPair
from ..formats.cryosparc import CryosparcExposures
from ..formats.packed_lines import PackedLines
from ..formats.relion import RelionMicrographTable
from ..formats.scipion import ScipionSet
from ..frames import CommonSamples
from ..records import Row
from ..trajectory import joined_pixels
from .atomic import temporary_path

_FLOAT = np.dtype(np.float64)
_MICRO = np.dtype(np.int32)

FILE = "consensus_data.npz"
VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Version 2 may hold the samples as int32 millionths of a pixel, which version 1 never did:
a version-1 reader refuses the file rather than take them for pixels."""
_ROW_FIELDS = [f.name for f in fields(Row) if f.name not in (
    "reference_shifts", "secondary_fitted", "sample_frames")]


def _table(table: object) -> tuple[dict | None, np.ndarray | None]:
    if isinstance(table, RelionMicrographTable | ScipionSet):  # shallow: the lists as they are
        kind = "relion" if isinstance(table, RelionMicrographTable) else "scipion"
        return {"kind": kind, **{f.name: getattr(table, f.name) for f in fields(table)}}, None
    if isinstance(table, CryosparcExposures):
        return {"kind": "cryosparc", "path": table.path, "container": table.container,
                "row_keys": table.row_keys}, table.records
    return None, None


def _untable(data: dict | None, records: np.ndarray | None) -> object | None:
    if data is None:
        return None
    kind = data.pop("kind")
    if kind == "relion":
        if "rows" in data:  # written before the rows were kept as lines
            return RelionMicrographTable.from_rows(
                data["path"], data["preamble"], data["block_name"], data["tags"],
                data["rows"], data["row_keys"], data["optics"])
        return RelionMicrographTable(**{**data, "lines": PackedLines(data["lines"])})
    if kind == "scipion":
        return ScipionSet(**data)
    if records is None:
        raise ValueError("the cryoSPARC reference's records are missing")
    return CryosparcExposures(data["path"], records, data["container"], data["row_keys"])


def _row_data(row: Row) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _ROW_FIELDS}


def save(path: Path, comparison: Comparison, options: dict[str, Any]) -> None:
    if comparison.released:
        raise ValueError("this comparison's samples were released: it cannot be stored")
    valid = comparison.valid
    lengths = np.array([v.samples.frames.size for v in valid], dtype=np.int64)
    table, records = _table(comparison.table)
    meta = {
        "version": VERSION,
        "valid": _Rows(valid, _valid_item),
        "invalid": [_row_data(row) for row in comparison.invalid],
        "only_in_reference": comparison.only_in_reference,
        "only_in_secondary": comparison.only_in_secondary,
        "duplicates": comparison.duplicates, "inputs": comparison.inputs,
        "notes": comparison.notes, "reference_format": comparison.reference_format,
        "table": table, "options": options,
    }
    meta_bytes = _Joined([np.frombuffer(part, dtype=np.uint8)
                          for part in _compressed_json_parts(meta)], (), np.dtype(np.uint8))
    del meta
    micro = all(v.samples.reference.dtype == _MICRO and v.samples.secondary.dtype == _MICRO
                for v in valid)
    shifts, join = (_MICRO, np.concatenate) if micro else (_FLOAT, joined_pixels)
    members: list[tuple[str, np.ndarray | _Joined]] = [
        ("lengths", lengths),
        ("frames", _Joined([v.samples.frames for v in valid], (), np.dtype(np.int32))),
        ("reference", _Joined([v.samples.reference for v in valid], (2,), shifts, join)),
        ("secondary", _Joined([v.samples.secondary for v in valid], (2,), shifts, join)),
        ("meta", meta_bytes),
    ]
    if records is not None:
        members.append(("cryosparc_records", records))
    with temporary_path(path) as temporary, open(temporary, "wb") as stream:
        _write_npz(stream, members)


def _valid_item(pair: ValidPair) -> list[Any]:
    return [pair.key, pair.movie_name, pair.reference_path, pair.secondary_path,
            pair.samples.resampled, pair.pixel_size, *pair.motion_px]


@dataclass
class _Rows:
    """A list for `_json_pieces` whose items are made a chunk at a time, as they are written
    (the lists of 100,000 pairs at once took 40 MB)."""

    items: list[Any]
    make: Callable[[Any], Any]

    def __len__(self) -> int:
        return len(self.items)

    def chunk(self, start: int, stop: int) -> list[Any]:
        return [self.make(item) for item in self.items[start:stop]]


@dataclass
class _Joined:
    """Arrays of shape (K, *inner) stored as their concatenation (in `dtype`, else their
    common type), written a chunk at a time: the samples of 100,000 movies are 80 MB an array."""

    parts: list[np.ndarray]
    inner: tuple[int, ...]
    dtype: np.dtype | None = None
    join: Callable[[list[np.ndarray]], np.ndarray] = np.concatenate
    """How parts are joined (`joined_pixels` for shifts as held)."""

    def write(self, stream: IO[bytes], chunk: int = 2048, size: int = 1 << 20) -> None:
        """Up to `chunk` parts or `size` bytes joined at a time."""
        types = {part.dtype for part in self.parts}
        dtype = self.dtype or (np.result_type(*types) if types else np.dtype(np.float64))
        header = np.lib.format.header_data_from_array_1_0(
            np.zeros((0, *self.inner), dtype=dtype))
        header["shape"] = (sum(len(part) for part in self.parts), *self.inner)
        np.lib.format.write_array_header_1_0(stream, header)
        group: list[np.ndarray] = []
        nbytes = 0
        for part in self.parts:
            group.append(part)
            nbytes += part.nbytes
            if len(group) == chunk or nbytes >= size:
                stream.write(self._c_order(group, dtype))
                group, nbytes = [], 0
        if group:
            stream.write(self._c_order(group, dtype))

    def _c_order(self, parts: list[np.ndarray], dtype: np.dtype) -> memoryview:
        """The parts joined as `.npy` stores them (C order), without a copy into bytes."""
        return np.ascontiguousarray(self.join(parts), dtype=dtype).data


def _json_pieces(value: Any, chunk: int = 4096) -> Iterator[str]:
    """``json.dumps(value)``, piece by piece: long lists a chunk of items at a time (the
    table and the pairs of 100,000 movies are tens of MB of text at once)."""
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield (", " if i else "") + json.dumps(key) + ": "
            yield from _json_pieces(item, chunk)
        yield "}"
    elif isinstance(value, _Rows | PackedLines) or (isinstance(value, list) and len(value) > chunk):
        items = value.chunk if isinstance(value, _Rows) else \
            lambda start, stop: value[start:stop]
        yield "["
        for start in range(0, len(value), chunk):
            yield (", " if start else "") + json.dumps(items(start, start + chunk))[1:-1]
        yield "]"
    else:
        yield json.dumps(value)


def _compressed_json_parts(value: Any) -> list[bytes]:
    """``zlib.compress(json.dumps(value))``, in parts (not joined: tens of MB at 100,000
    movies)."""
    packer = compressor()
    parts = [packer.compress(piece.encode()) for piece in _json_pieces(value)]
    return [part for part in [*parts, packer.flush()] if part]


def _write_npz(stream: BinaryIO, members: list[tuple[str, np.ndarray | _Joined]]) -> None:
    """What ``np.savez`` writes, the joined arrays a chunk at a time."""
    with zipfile.ZipFile(stream, mode="w", compression=zipfile.ZIP_STORED,
                         allowZip64=True) as archive:
        for name, value in members:
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                if isinstance(value, _Joined):
                    value.write(member)
                else:
                    np.lib.format.write_array(member, value, allow_pickle=False)


def load(out_dir: Path) -> tuple[Comparison, dict[str, Any]]:
    """The stored comparison of an output folder, and the options it was made with."""
    path = Path(out_dir) / FILE
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        meta = json.loads(zlib.decompress(arrays["meta"].tobytes()))
    except FileNotFoundError:
        raise InputError(path, "no consensus data: this folder was not written by motioncons "
                               "run or watch (or by a version before 0.2)") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise InputError(path, f"unreadable consensus data ({exc})") from exc
    if meta.get("version") not in READABLE_VERSIONS:
        raise InputError(path, f"consensus data version {meta.get('version')} is not "
                               f"{VERSION}: run the consensus again")
    frames = arrays["frames"].astype(np.int64)
    reference, secondary = arrays["reference"], arrays["secondary"]
    if not (reference.dtype == secondary.dtype and reference.dtype in (_FLOAT, _MICRO)) or (
            reference.dtype == _MICRO and meta["version"] < 2):
        raise InputError(path, f"unreadable consensus data (samples of type {reference.dtype} "
                               f"and {secondary.dtype})")
    ends = np.cumsum(arrays["lengths"])
    starts = ends - arrays["lengths"]
    valid = []
    for (key, name, ref_path, sec_path, resampled, pixel, total, early), a, b in zip(
            meta["valid"], starts.tolist(), ends.tolist(), strict=True):
        samples = CommonSamples(reference[a:b], secondary[a:b], frames[a:b], bool(resampled))
        valid.append(ValidPair(key, name, ref_path, sec_path, samples, pixel, total, early))
    invalid = [Row(**row) for row in meta["invalid"]]  # JSON keeps NaN as NaN
    table = _untable(meta["table"], arrays.get("cryosparc_records"))
    comparison = Comparison(valid, invalid, meta["only_in_reference"],
                            meta["only_in_secondary"], meta["duplicates"], meta["inputs"],
                            meta["notes"], meta["reference_format"], table)
    return comparison, meta["options"]

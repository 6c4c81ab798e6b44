"""Persistent state of an incremental run: an SQLite file (WAL) in the output directory.

It holds one decision per movie key together with the identity (path and token) of both result
files it was made from, and named values such as the frozen convention. Every batch of decisions
is one transaction, so a process killed at any moment leaves either the old or the new state.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from ..errors import MotionconsError
from ..evaluation import ValidPair
from ..frames import CommonSamples
from ..records import Row, missing
from ..trajectory import pixels

STATE_FILE = "motioncons_state.sqlite"
_ROW_FIELDS = [f.name for f in fields(Row) if f.name not in (
    "reference_shifts", "secondary_fitted", "sample_frames")]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    key TEXT PRIMARY KEY,
    reference_source TEXT NOT NULL,
    reference_token TEXT NOT NULL,
    secondary_source TEXT NOT NULL,
    secondary_token TEXT NOT NULL,
    row TEXT NOT NULL,
    overlay BLOB,
    pair BLOB
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def encode_pair(pair: ValidPair) -> bytes:
    """A comparable pair as bytes: a JSON header, a NUL, then (K, 5) float64 samples (frame,
    reference x, y, secondary x, y): float64 kept exactly, no pickle."""
    header = json.dumps([pair.key, pair.movie_name, pair.reference_path, pair.secondary_path,
                         pair.samples.resampled, pair.pixel_size, *pair.motion_px])
    samples = np.column_stack([pair.samples.frames, pixels(pair.samples.reference),
                               pixels(pair.samples.secondary)]).astype(np.float64)
    return header.encode() + b"\0" + samples.tobytes()


def decode_pair(blob: bytes) -> ValidPair:
    header, _, data = bytes(blob).partition(b"\0")
    key, name, ref_path, sec_path, resampled, pixel, total, early = json.loads(header)
    samples = np.frombuffer(data, dtype=np.float64).reshape(-1, 5)
    common = CommonSamples(samples[:, 1:3].copy(), samples[:, 3:5].copy(),
                           samples[:, 0].astype(np.int64), bool(resampled))
    return ValidPair(key, name, ref_path, sec_path, common, pixel, total, early)


def _row_to_json(row: Row) -> str:
    data = asdict(row)
    clean = {k: (None if missing(data[k]) else data[k])
             for k in _ROW_FIELDS}
    return json.dumps(clean, separators=(",", ":"))


def _row_from_json(text: str) -> Row:
    data = json.loads(text)
    for f in fields(Row):
        if f.name in data and data[f.name] is None and f.type in ("float", float):
            data[f.name] = math.nan
    return Row(**data)


class StateStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            columns = {c[1] for c in self.db.execute("PRAGMA table_info(decisions)")}
            if "pair" not in columns:  # a state file of motioncons 0.1
                self.db.execute("ALTER TABLE decisions ADD COLUMN pair BLOB")
        except sqlite3.DatabaseError as exc:
            raise MotionconsError(f"{path}: not a usable motioncons state file ({exc})") from exc
        self.path = path

    def close(self) -> None:
        self.db.close()

    def get(self, name: str) -> object | None:
        found = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return json.loads(found[0]) if found else None

    def put(self, name: str, value: object) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                        (name, json.dumps(value)))

    def record(self, decisions: Iterable[tuple[Row, str, str, str, str, bytes | None,
                                               ValidPair | None]]) -> int:
        """Store (row, ref source, ref token, sec source, sec token, overlay, pair) in one
        transaction. The overlay is the movie's encoded trajectories for the report
        (`report.encode_overlay`); the pair, what re-deciding the movie needs."""
        items = [(row.movie, rs, rt, ss, st, _row_to_json(row), overlay,
                  None if pair is None else encode_pair(pair))
                 for row, rs, rt, ss, st, overlay, pair in decisions]
        if not items:
            return 0
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                items)
        return len(items)

    def redecided(self, rows: list[tuple[Row, bytes | None]]) -> None:
        """Replace the rows (and overlays) of decided movies, in one transaction."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("UPDATE decisions SET row = ?, overlay = ? WHERE key = ?",
                                [(_row_to_json(row), overlay, row.movie)
                                 for row, overlay in rows])

    def comparison_parts(self) -> tuple[list[ValidPair], list[Row]]:
        """The stored comparable pairs, and the rows of the pairs that could not be compared."""
        valid, invalid = [], []
        for text, pair in self.db.execute("SELECT row, pair FROM decisions ORDER BY key"):
            if pair is None:
                invalid.append(_row_from_json(text))
            else:
                valid.append(decode_pair(pair))
        return valid, invalid

    def overlays(self) -> dict[str, bytes]:
        return dict(self.db.execute(
            "SELECT key, overlay FROM decisions WHERE overlay IS NOT NULL"))

    def sources(self) -> Iterator[tuple[str, str, str, str, str]]:
        """(key, ref source, ref token, sec source, sec token) of every decision."""
        yield from self.db.execute("SELECT key, reference_source, reference_token, "
                                   "secondary_source, secondary_token FROM decisions")

    def rows(self) -> list[Row]:
        return [_row_from_json(text) for (text,) in
                self.db.execute("SELECT row FROM decisions ORDER BY key")]

    def result_of(self, key: str, side: str) -> tuple[str, str] | None:
        """(source, token) of the result one side contributed to a decided movie."""
        column = {"reference": "reference", "secondary": "secondary"}[side]
        found = self.db.execute(f"SELECT {column}_source, {column}_token FROM decisions "
                                "WHERE key = ?", (key,)).fetchone()
        return (found[0], found[1]) if found else None

    def keys(self) -> set[str]:
        return {key for (key,) in self.db.execute("SELECT key FROM decisions")}

    def accepted_count(self) -> int:
        return int(self.db.execute(
            "SELECT COUNT(*) FROM decisions WHERE json_extract(row, '$.decision') = 'accepted'"
        ).fetchone()[0])

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])

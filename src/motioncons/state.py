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

from .errors import MotionconsError
from .records import Row

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
    overlay BLOB
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _row_to_json(row: Row) -> str:
    data = asdict(row)
    clean = {k: (None if isinstance(data[k], float) and math.isnan(data[k]) else data[k])
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

    def record(self, decisions: Iterable[tuple[Row, str, str, str, str, bytes | None]]) -> int:
        """Store (row, ref source, ref token, sec source, sec token, overlay) in one transaction.

        The overlay is the movie's encoded trajectories for the report (`report.encode_overlay`).
        """
        items = [(row.movie, rs, rt, ss, st, _row_to_json(row), overlay)
                 for row, rs, rt, ss, st, overlay in decisions]
        if not items:
            return 0
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?)",
                                items)
        return len(items)

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

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])

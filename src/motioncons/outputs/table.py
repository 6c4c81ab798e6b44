"""``consensus.csv``: one row per paired movie, stable documented columns (README)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..records import CSV_COLUMNS, Row
from .atomic import write_text


def format_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if math.isnan(value) else format(value, ".17g")
    return str(value)


def write_csv(path: str | Path, rows: list[Row]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([format_value(getattr(row, column)) for column in CSV_COLUMNS])
    write_text(path, buffer.getvalue())

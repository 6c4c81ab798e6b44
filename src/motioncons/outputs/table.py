"""``consensus.csv``: one row per paired movie, stable documented columns (docs/outputs.md)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..records import CSV_COLUMNS, Row, missing
from .atomic import write_text


def format_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if missing(value) else format(value, ".17g")
    return str(value)


def write_csv(path: str | Path, rows: list[Row]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    columns = []
    for column in CSV_COLUMNS:
        values = [getattr(row, column) for row in rows]
        if values and isinstance(values[0], float):
            columns.append(["" if missing(v) else format(v, ".17g") for v in values])
        elif values and isinstance(values[0], str):
            columns.append(values)
        else:
            columns.append([format_value(v) for v in values])
    writer.writerows(zip(*columns, strict=True))
    write_text(path, buffer.getvalue())

from __future__ import annotations

import math

from motioncons.outputs.table import format_value, write_csv
from motioncons.records import CSV_COLUMNS, Row


def test_numbers_round_trip_and_nan_is_empty(tmp_path):
    value = 0.1 + 0.2
    assert float(format_value(value)) == value
    assert format_value(math.nan) == ""
    assert format_value(True) == "true"
    write_csv(tmp_path / "c.csv", [Row(movie="m", decision="accepted", reason="low_motion")])
    header, line = (tmp_path / "c.csv").read_text().splitlines()
    assert header.split(",") == list(CSV_COLUMNS)
    assert line.startswith("m,accepted,low_motion,,")

from __future__ import annotations

import math

import pytest

from motioncons.outputs.table import format_value, write_csv
from motioncons.records import CSV_COLUMNS, Row

pytestmark = pytest.mark.usefixtures("number_formatter")  # compiled, then in Python


def test_numbers_round_trip_and_nan_is_empty(tmp_path):
    value = 0.1 + 0.2
    assert float(format_value(value)) == value
    assert format_value(math.nan) == ""
    assert format_value(True) == "true"
    write_csv(tmp_path / "c.csv", [Row(movie="m", decision="accepted", reason="low_motion")])
    header, line = (tmp_path / "c.csv").read_text().splitlines()
    assert header.split(",") == list(CSV_COLUMNS)
    assert line.startswith("m,accepted,low_motion,,")


def _csv_module(rows: list[Row]) -> str:
    """What Python's csv writer writes for the same values (the writer of earlier versions)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows([format_value(getattr(row, c)) for c in CSV_COLUMNS] for row in rows)
    return buffer.getvalue()


def test_bulk_writer_writes_what_the_csv_module_writes(tmp_path):
    names = ["plain", "comma, in it", 'a "quoted" name', "new\nline", "cr\rhere", "ünïcode",
             " leading space", "<b>markup</b>", "", "semi;colon", "tab\there"]
    rows = [Row(movie=name or "empty", decision="accepted" if i % 2 else "discarded",
                reason="agree", corr=[0.1 + 0.2, math.nan, math.inf, -0.0, 1e-300, 12][i % 6],
                rmse_px=float(i), frames=i, resampled=bool(i % 3), movie_name=name,
                message=name, reference_path=f"/data/{name}.star")
            for i, name in enumerate(names)]
    write_csv(tmp_path / "c.csv", rows)
    assert (tmp_path / "c.csv").read_bytes() == _csv_module(rows).encode("utf-8")
    write_csv(tmp_path / "chunked.csv", rows, chunk=2)  # quoted and plain chunks
    assert (tmp_path / "chunked.csv").read_bytes() == _csv_module(rows).encode("utf-8")
    write_csv(tmp_path / "plain.csv", rows[:1])
    assert (tmp_path / "plain.csv").read_text() == _csv_module(rows[:1])
    write_csv(tmp_path / "none.csv", [])
    assert (tmp_path / "none.csv").read_text() == _csv_module([])

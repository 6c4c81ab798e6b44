"""``report.html``: one self-contained file (no network needed to view it).

It shows the inputs, the counts, the decision controls (every movie re-decided in the browser
with the CLI's rules), histograms, acceptance over time, a sortable and filterable table of every
movie, and each movie's trajectories (drawn as SVG on a click). The table (JSON, with the fields
the page decides from as float64 bytes beside it) and the trajectories are embedded
zlib-compressed and base64 encoded (the trajectories with `overlay_codec`), and inflated by the
browser's own DecompressionStream. The page itself is the package data file
``report_template.html``.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import math
import operator
import re
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..consensus import (
    AUTO_RMSE_FLOOR_PX,
    AUTO_RMSE_K,
    AUTO_RMSE_MIN_MOVIES,
    INVALID_REASONS,
    REASONS,
)
from ..deflate import compact_compressor
from ..outputs.atomic import write_pieces
from ..outputs.numbers import finite_formatted
from ..records import Row, Summary, missing
from .overlay_codec import QUANTUM

TABLE_FIELDS = ("movie", "decision", "reason", "corr", "corr_x", "corr_y", "rmse_px",
                "max_error_px", "range_ref_px", "range_sec_px", "frames", "pixel_size_A",
                "plot_path", "range_ref_x_px", "range_ref_y_px", "range_sec_x_px",
                "range_sec_y_px", "motion_total_A", "motion_early_A", "base_reason", "acquired",
                "message")


_EXACT = {"corr", "corr_x", "corr_y", "rmse_px", "max_error_px", "range_ref_x_px",
          "range_ref_y_px", "range_sec_x_px", "range_sec_y_px", "pixel_size_A",
          "motion_total_A", "motion_early_A"}
"""Fields the page re-decides from: kept exact, so that its decisions are the CLI's. They are
embedded as float64 bytes, not JSON text: the shortest decimal text of a float costs about
1 µs (0.65 s for the 600,000 of 50,000 movies), its bytes nothing."""
EXACT_FIELDS = tuple(field for field in TABLE_FIELDS if field in _EXACT)
JSON_FIELDS = tuple(field for field in TABLE_FIELDS if field not in _EXACT)
_exact_values = operator.attrgetter(*EXACT_FIELDS)
_TIMESTAMP = re.compile(r"(20\d{2})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})")
METRIC_HELP = {
    "corr": "score: the lower of the x and y correlations, over the axes that move",
    "corr_x": "how well the x trajectories match in shape (1 = same shape)",
    "corr_y": "how well the y trajectories match in shape (1 = same shape)",
    "rmse_A": "average distance between the two trajectories (root mean square, Å)",
    "max_error_A": "largest distance between them in any frame (Å)",
    "range_ref_px": "how far the reference moved (largest extent over x and y, px)",
    "motion_total_A": "the reference's accumulated motion over all frames (Å)",
    "frames": "frames compared",
}


def _number(value: object) -> object:
    if isinstance(value, float):
        if missing(value):
            return None
        return float(f"{value:.4g}")
    return value


def acquired(name: str) -> str | None:
    """The acquisition time in an EPU-style name (``..._YYYYMMDD_HHMMSS``), if any."""
    found = _TIMESTAMP.search(name)
    if not found:
        return None
    y, mo, d, h, mi, se = found.groups()
    return f"{y}-{mo}-{d} {h}:{mi}:{se}"


_DERIVED = {
    "decision": lambda row: int(row.accepted),
    "plot_path": lambda row: row.plot_path or 0,
    "acquired": lambda row: acquired(row.movie_name or row.movie),
    "message": lambda row: row.message or 0,
}


def _columns(rows: list[Row], reasons: dict[str, int]) -> list[list[object]]:
    """The report's table, column by column: reasons as codes numbered in row order, numbers
    as `_number` gives them."""
    coded = [(reasons.setdefault(row.reason, len(reasons)),
              reasons.setdefault(row.decided_reason or row.reason, len(reasons))) for row in rows]
    columns: list[list[object]] = []
    for field in JSON_FIELDS:
        if field in ("reason", "base_reason"):
            columns.append([pair[field == "base_reason"] for pair in coded])
        elif field in _DERIVED:
            columns.append(list(map(_DERIVED[field], rows)))
        else:
            columns.append(_number_column(list(map(operator.attrgetter(field), rows))))
    return columns


def _number_column(values: list[object]) -> list[object]:
    """`_number` of each value: a column of text or whole numbers as it is; a column of floats
    in one pass, formatted by one call (its undefined values, NaN and infinities, as None)."""
    kinds = set(map(type, values))
    if kinds <= {str, int}:
        return values
    if kinds == {float}:
        texts = finite_formatted(values, "%.4g", "")
        if texts is not None:
            return [float(text) if text else None for text in texts]
    return [_number(value) for value in values]


def exact_block(rows: list[Row]) -> bytes:
    """The rows' `EXACT_FIELDS`, row after row, as little-endian float64 bytes; a value that
    is missing or not finite is NaN (JSON's null, which the page reads as NaN)."""
    values = np.array([_exact_values(row) for row in rows], dtype="<f8").reshape(
        -1, len(EXACT_FIELDS))
    values[~np.isfinite(values)] = np.nan
    return values.tobytes()


PLACEHOLDER = re.compile(r"%(FACTS|WARNINGS|REFRESH|IMAGE|DATA|EXACT|TRAJ)%")
CHUNK_ROWS = 4096
"""Rows made into the table's JSON at a time: the table of every row is never all in memory
(at 50,000 movies, the page built whole took 40 MB more at the run's peak)."""


def build_report(rows: list[Row], overlays: dict[str, bytes], summary: Summary,
                 summary_png: SummaryPng, created: str | None = None) -> str:
    return "".join(report_pieces(rows, overlays, summary, summary_png, created))


SummaryPng = bytes | None | Callable[[], bytes | None]
"""``summary.png``'s bytes, or a function that gives them when the page reaches its image (the
figure may still be drawn by another process while the table is made)."""


def report_pieces(rows: list[Row], overlays: dict[str, bytes], summary: Summary,
                  summary_png: SummaryPng, created: str | None = None) -> Iterator[str]:
    """``report.html``, piece by piece: the page's template with its placeholders filled in
    one pass (a value is never searched for another placeholder)."""
    sizes = [r.pixel_size_A for r in rows if math.isfinite(r.pixel_size_A)]
    summary = {**summary, "median_pixel_size_A": float(np.median(sizes)) if sizes else None}
    trajectories = _Packer(compact_compressor())
    exact = _Packer(compact_compressor())
    table = _Packer(compact_compressor())
    for piece in _table_json(rows, overlays, summary, created, trajectories, exact):
        table.add(piece.encode())

    def image() -> str:
        png = summary_png() if callable(summary_png) else summary_png
        return (f'<img alt="summary figures" src="data:image/png;base64,'
                f'{base64.b64encode(png).decode()}">' if png else "")

    values = {"FACTS": lambda: _facts(summary, created), "WARNINGS": lambda: _warnings(summary),
              "REFRESH": lambda: '<meta http-equiv="refresh" content="30">'
              if _live(summary) else "",
              "IMAGE": image, "DATA": table.base64, "EXACT": exact.base64,
              "TRAJ": trajectories.base64}
    template = resources.files(__package__).joinpath("report_template.html").read_text("utf-8")
    start = 0
    for found in PLACEHOLDER.finditer(template):
        yield template[start: found.start()]
        yield values[found.group(1)]()
        start = found.end()
    yield template[start:]


def _table_json(rows: list[Row], overlays: dict[str, bytes], summary: Summary,
                created: str | None, trajectories: _Packer, exact: _Packer) -> Iterator[str]:
    """The page's data, as JSON text in pieces (`json.dumps` of the whole, compact): the
    table a chunk of rows at a time, each row's encoded trajectories given to
    `trajectories` meanwhile (the table says where they start and how long they are), and
    its exact fields to `exact` (`exact_block`)."""
    reasons: dict[str, int] = {}
    params = summary["parameters"]
    rules = {"fit": params["fit"], "k": AUTO_RMSE_K, "floor_px": AUTO_RMSE_FLOOR_PX,
             "min_movies": AUTO_RMSE_MIN_MOVIES, "invalid": list(INVALID_REASONS),
             "nan_reason": "nan_correlation" if params["fit"] == "xmipp" else "low_correlation",
             "reasons": REASONS, "metrics": METRIC_HELP}
    yield ('{"fields":' + _json([*JSON_FIELDS, "offset", "length"]) + ',"exact":'
           + _json(EXACT_FIELDS) + ',"rows":[')
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start: start + CHUNK_ROWS]
        encoded = [overlays.get(row.movie) or b"" for row in chunk]
        lengths = [len(blob) for blob in encoded]
        starts = np.cumsum([trajectories.size, *lengths[:-1]]).tolist()
        trajectories.add(b"".join(encoded))
        exact.add(exact_block(chunk))
        # Rows as tuples (JSON arrays), one C-level zip of the columns.
        text = _json(list(zip(*_columns(chunk, reasons), starts, lengths, strict=True)))
        yield ("," if start else "") + text[1:-1]
    rest = {"reasons": list(reasons), "summary": summary, "quantum": QUANTUM, "rules": rules,
            "created": created or "", "live": _live(summary)}
    yield "]," + _json(rest)[1:]


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


class _Packer:
    """Bytes compressed as they are given (a zlib stream), then base64 encoded."""

    def __init__(self, compressor: Any) -> None:
        self._compressor = compressor
        self._parts: list[bytes] = []
        self.size = 0
        """Bytes given so far."""

    def add(self, data: bytes) -> None:
        self._parts.append(self._compressor.compress(data))
        self.size += len(data)

    def base64(self) -> str:
        self._parts.append(self._compressor.flush())
        return base64.b64encode(b"".join(self._parts)).decode()


def _live(summary: Summary) -> bool:
    stream = summary.get("stream")
    return isinstance(stream, dict) and not stream.get("finished", True)


def _facts(summary: Summary, created: str | None) -> str:
    inputs = summary.get("inputs") or {}
    params = summary["parameters"]
    convention = summary.get("convention") or {}
    pixel = params.get("pixel_size_A") or summary.get("median_pixel_size_A")

    def path(side: str) -> str:
        entry = inputs.get(side) if isinstance(inputs, dict) else None
        return str(entry.get("path", "")) if isinstance(entry, dict) else ""

    facts = [("reference", path("reference")), ("secondary", path("secondary")),
             ("fit", params["fit"]), ("convention", convention.get("applied", "n/a")),
             ("pixel size", f"{pixel:g} Å" if pixel else "from the inputs"),
             ("motioncons", summary.get("motioncons", "")), ("written", created or "")]
    return "".join(f"<div><b>{html.escape(str(v))}</b><span>{html.escape(k)}</span></div>"
                   for k, v in facts if v != "")


def _warnings(summary: Summary) -> str:
    items = "".join(f"<li>{html.escape(str(w))}</li>" for w in summary.get("warnings", []))
    return f"<ul class=warn>{items}</ul>" if items else ""


def write_report(path: Path, rows: list[Row], overlays: dict[str, bytes],
                 summary: Summary, summary_png: SummaryPng) -> None:
    created = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    write_pieces(path, report_pieces(rows, overlays, summary, summary_png, created))

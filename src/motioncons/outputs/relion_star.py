"""RELION subsets of the reference: micrographs (and movies) split into accepted and discarded.

The reference micrographs STAR is reproduced with its preamble (version lines, ``data_optics``)
verbatim and its rows unchanged, plus consensus columns. RELION keeps labels it does not know
("will ignore (but maintain) values for the unknown label"), so the files still feed CTF
estimation, Polish (``rlnMicrographMetadata`` is kept) and Subset selection.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from ..formats.relion import RelionMicrographTable
from ..records import Row
from .atomic import write_text

CONSENSUS_LABELS = (
    ("_rlnMotionConsensusScore", "corr"),
    ("_rlnMotionConsensusCorrX", "corr_x"),
    ("_rlnMotionConsensusCorrY", "corr_y"),
    ("_rlnMotionConsensusRmsePx", "rmse_px"),
    ("_rlnMotionConsensusMaxErrorPx", "max_error_px"),
    ("_rlnMotionConsensusReason", "reason"),
    ("_rlnMotionConsensusPlot", "plot_path"),
)
_VERSION = re.compile(r"^# version \d+\s*$", re.MULTILINE)


def _format(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6f}"
    return _quoted(str(value))


def _loop(block: str, tags: list[str], rows: list[list[str]]) -> str:
    lines = [f"data_{block}", "", "loop_"]
    lines += [f"{tag} #{i}" for i, tag in enumerate(tags, start=1)]
    lines += [" ".join(row) for row in rows]
    return "\n".join(lines) + "\n\n"


def _version_line(preamble: str) -> str:
    found = _VERSION.findall(preamble)
    return found[-1].strip() + "\n\n" if found else ""


def micrographs_star(table: RelionMicrographTable, decided: dict[str, Row], accepted: bool) -> str:
    tags = [*table.tags, *(label for label, _ in CONSENSUS_LABELS)]
    rows = []
    for row, key in zip(table.rows, table.row_keys, strict=True):
        record = decided.get(key)
        if record is None or record.accepted != accepted:
            continue
        rows.append([*row, *(_format(getattr(record, field)) for _, field in CONSENSUS_LABELS)])
    return table.preamble + _loop(table.block_name, tags, rows)


def movies_star(table: RelionMicrographTable | None, decided: dict[str, Row], accepted: bool,
                movie_names: dict[str, str]) -> str:
    """The movies of one decision, as RELION's Import would list them (optics when known)."""
    selected = [(key, row) for key, row in decided.items() if row.accepted == accepted]
    if table is None or not table.optics:
        rows = [[_quoted(movie_names.get(key, row.movie_name))] for key, row in selected]
        return _loop("movies", ["_rlnMicrographMovieName"], rows)
    optics_tags = [t for t in table.optics if t != "_rlnMicrographPixelSize"]
    optics_rows = [list(values) for values in zip(*(table.optics[t] for t in optics_tags),
                                                   strict=True)]
    group_of = {}
    if "_rlnOpticsGroup" in table.tags:
        column = table.tags.index("_rlnOpticsGroup")
        group_of = {key: row[column] for key, row in zip(table.row_keys, table.rows, strict=True)}
    version = _version_line(table.preamble)
    rows = [[_quoted(movie_names.get(key, row.movie_name)), group_of.get(key, "1")]
            for key, row in selected]
    return (version + _loop("optics", optics_tags, optics_rows) + version
            + _loop("movies", ["_rlnMicrographMovieName", "_rlnOpticsGroup"], rows))


_WHITESPACE = re.compile(r"\s")


def _quoted(value: str) -> str:
    return f'"{value}"' if (not value or _WHITESPACE.search(value)) else value


def write_relion_subsets(out_dir: Path, table: RelionMicrographTable | None,
                         decided: dict[str, Row], movie_names: dict[str, str]) -> list[str]:
    written = []
    for accepted, label in ((True, "accepted"), (False, "discarded")):
        if table is not None:
            path = out_dir / f"{label}_micrographs.star"
            write_text(path, micrographs_star(table, decided, accepted))
            written.append(path.name)
        path = out_dir / f"{label}_movies.star"
        write_text(path, movies_star(table, decided, accepted, movie_names))
        written.append(path.name)
    return written

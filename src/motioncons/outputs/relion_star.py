"""RELION subsets of the reference: micrographs (and movies) split into accepted and discarded.

The reference micrographs STAR is reproduced with its preamble (version lines, ``data_optics``)
verbatim and its rows unchanged, plus consensus columns. RELION keeps labels it does not know
("will ignore (but maintain) values for the unknown label"), so the files still feed CTF
estimation, Polish (``rlnMicrographMetadata`` is kept) and Subset selection.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from operator import attrgetter
from pathlib import Path
from typing import cast

from ..formats.relion import RelionMicrographTable
from ..formats.star import requoted, star_value
from ..records import Row, missing
from .atomic import write_pieces
from .numbers import finite_formatted, joined_lines

CONSENSUS_LABELS = (
    ("_rlnMotionConsensusScore", "corr"),
    ("_rlnMotionConsensusCorrX", "corr_x"),
    ("_rlnMotionConsensusCorrY", "corr_y"),
    ("_rlnMotionConsensusRmsePx", "rmse_px"),
    ("_rlnMotionConsensusMaxErrorPx", "max_error_px"),
    ("_rlnMotionConsensusReason", "reason"),
    ("_rlnMotionConsensusMotionTotal", "motion_total_A"),
    ("_rlnMotionConsensusMotionEarly", "motion_early_A"),
    ("_rlnMotionConsensusPlot", "plot_path"),
)
_VERSION = re.compile(r"^# version \d+\s*$", re.MULTILINE)


def _format(value: object) -> str:
    if isinstance(value, float):
        return "nan" if missing(value) else f"{value:.6f}"
    return star_value(str(value))


def _loop(block: str, tags: list[str], rows: list[list[str]]) -> str:
    return "".join(_loop_pieces(block, tags, (" ".join(row) for row in rows)))


def _loop_pieces(block: str, tags: list[str], lines: Iterable[str],
                 chunk: int = 8192) -> Iterator[str]:
    """A ``data_`` block with one loop, as text pieces: `lines` joined `chunk` at a time."""
    lines = iter(lines)
    return _loop_text(block, tags, (
        "\n".join(part) + "\n" for part in iter(lambda: list(itertools.islice(lines, chunk)),
                                               [])))


def _loop_text(block: str, tags: list[str], texts: Iterable[str]) -> Iterator[str]:
    """A ``data_`` block with one loop, as text pieces: its rows given as `texts`, pieces of
    whole lines, each line ending in ``\\n``."""
    yield "\n".join([f"data_{block}", "", "loop_",
                     *(f"{tag} #{i}" for i, tag in enumerate(tags, start=1))]) + "\n"
    yield from texts
    yield "\n"


def _version_line(preamble: str) -> str:
    found = _VERSION.findall(preamble)
    return found[-1].strip() + "\n\n" if found else ""


def _consensus_columns(records: list[Row]) -> list[list[str]]:
    """The consensus columns of `records`, each formatted in one pass (`_format`)."""
    columns = []
    for values in zip(*map(_CONSENSUS_FIELDS, records), strict=True):
        if values and isinstance(values[0], float):
            at_once = finite_formatted(values, "%.6f", "nan")
            columns.append(at_once if at_once is not None else list(map(_format, values)))
        else:
            formatted = {v: _format(v) for v in set(values)}
            columns.append([formatted[v] for v in values])
    return columns


_CONSENSUS_FIELDS = attrgetter(*(field for _, field in CONSENSUS_LABELS))


def micrographs_star(table: RelionMicrographTable, decided: dict[str, Row],
                     accepted: bool) -> str:
    return "".join(_micrographs_pieces(table, decided, accepted))


def _micrographs_pieces(table: RelionMicrographTable, decided: dict[str, Row], accepted: bool,
                        chunk: int = 2048) -> Iterator[str]:
    """The reference's rows of one decision, with the consensus columns appended: formatted
    `chunk` rows at a time (all of 50,000 movies' at once took 10 MB)."""
    tags = [*table.tags, *(label for label, _ in CONSENSUS_LABELS)]
    if len(table.lines) != len(table.row_keys):
        raise ValueError(f"{table.path}: {len(table.lines)} rows but {len(table.row_keys)} keys")
    records = list(map(decided.get, table.row_keys))
    # The decision compared, not `Row.accepted` called: a third of the cost.
    chosen = [record is not None and (record.decision == "accepted") == accepted
              for record in records]
    lines = itertools.compress(table.lines, chosen)
    selected = cast(list[Row], list(itertools.compress(records, chosen)))  # none is None

    def texts() -> Iterator[str]:
        for start in range(0, len(selected), chunk):
            part = selected[start: start + chunk]
            yield joined_lines([list(itertools.islice(lines, len(part))),
                                *_consensus_columns(part)], " ")

    yield table.preamble
    yield from _loop_text(table.block_name, tags, texts())


def movies_star(table: RelionMicrographTable | None, decided: dict[str, Row], accepted: bool,
                movie_names: dict[str, str]) -> str:
    """The movies of one decision, as RELION's Import would list them (optics when known)."""
    return "".join(_movies_pieces(table, decided, accepted, movie_names))


def _movies_pieces(table: RelionMicrographTable | None, decided: dict[str, Row],
                   accepted: bool, movie_names: dict[str, str],
                   chunk: int = 8192) -> Iterator[str]:
    keys = [key for key, row in decided.items() if (row.decision == "accepted") == accepted]

    def texts(with_groups: dict[str, str] | None) -> Iterator[str]:
        """The rows `chunk` at a time: a name, and its optics group with `with_groups`."""
        for start in range(0, len(keys), chunk):
            part = keys[start: start + chunk]
            columns = [[star_value(movie_names.get(key, decided[key].movie_name))
                        for key in part]]
            if with_groups is not None:
                columns.append([with_groups.get(key, "1") for key in part])
            yield joined_lines(columns, " ")

    if table is None or not table.optics:
        yield from _loop_text("movies", ["_rlnMicrographMovieName"], texts(None))
        return
    optics_tags = [t for t in table.optics if t != "_rlnMicrographPixelSize"]
    optics_rows = [[requoted(v) for v in values]
                   for values in zip(*(table.optics[t] for t in optics_tags), strict=True)]
    group_of = dict(zip(table.row_keys, table.optics_groups, strict=True)) \
        if table.optics_groups else {}
    version = _version_line(table.preamble)
    yield version + _loop("optics", optics_tags, optics_rows) + version
    yield from _loop_text("movies", ["_rlnMicrographMovieName", "_rlnOpticsGroup"],
                          texts(group_of))


def write_relion_subsets(out_dir: Path, table: RelionMicrographTable | None,
                         decided: dict[str, Row], movie_names: dict[str, str]) -> list[str]:
    written = []
    for accepted, label in ((True, "accepted"), (False, "discarded")):
        if table is not None:
            path = out_dir / f"{label}_micrographs.star"  # a piece at a time: 100,000 rows
            write_pieces(path, _micrographs_pieces(table, decided, accepted))
            written.append(path.name)
        path = out_dir / f"{label}_movies.star"
        write_pieces(path, _movies_pieces(table, decided, accepted, movie_names))
        written.append(path.name)
    return written

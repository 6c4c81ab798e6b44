"""Scipion reference: plain lists of the accepted and discarded movies, by Scipion id and name."""

from __future__ import annotations

from pathlib import Path

from ..formats.scipion import ScipionSet
from ..records import Row
from .atomic import write_text


def write_scipion_lists(out_dir: Path, table: ScipionSet, decided: dict[str, Row]) -> list[str]:
    written = []
    for accepted, label in ((True, "accepted"), (False, "discarded")):
        lines = [f"# {label} movies of {table.path}: Scipion id, movie", *(
            f"{table.ids[key]}\t{table.names[key]}"
            for key in sorted(decided, key=lambda k: table.ids.get(k, 0))
            if decided[key].accepted == accepted and key in table.ids)]
        path = out_dir / f"{label}_scipion_ids.txt"
        write_text(path, "\n".join(lines) + "\n")
        written.append(path.name)
    return written

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
            f"{object_id}\t{_one_line(name)}"
            for object_id, name, key in zip(table.ids, table.names, table.row_keys, strict=True)
            if key in decided and decided[key].accepted == accepted)]
        path = out_dir / f"{label}_scipion_ids.txt"
        write_text(path, "\n".join(lines) + "\n")
        written.append(path.name)
    return written


def _one_line(name: str) -> str:
    return " ".join(name.splitlines())

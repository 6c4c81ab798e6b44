"""What the per-file readers share: reading every matching file of a directory (or one file)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import InputError
from ..trajectory import Problem, Trajectory, TrajectorySet


def read_files(path: Path, files: list[Path], format_name: str,
               read_file: Callable[[Path], Trajectory | Problem], missing: str) -> TrajectorySet:
    """One trajectory (or problem) per file; `missing` is the error when there is no file."""
    if not files:
        raise InputError(path, missing)
    dataset = TrajectorySet(path=str(path), format=format_name)
    for file in files:
        dataset.add(read_file(file))
    return dataset

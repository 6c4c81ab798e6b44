"""Pairing two inputs by the canonical movie key (`trajectory.movie_key`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .errors import UsageError
from .trajectory import Problem, Trajectory, TrajectorySet, movie_key

__all__ = ["Matching", "Pair", "compile_match_regex", "movie_key", "pair_sets", "rekey"]

@dataclass(slots=True)
class Pair:
    key: str
    reference: Trajectory | Problem
    secondary: Trajectory | Problem

    @property
    def problems(self) -> list[Problem]:
        """The sides that could not be read; such a pair is decided as invalid."""
        return [side for side in (self.reference, self.secondary) if isinstance(side, Problem)]


@dataclass
class Matching:
    pairs: list[Pair]
    only_in_reference: list[str]
    only_in_secondary: list[str]
    duplicates: list[str]
    """Keys that occur more than once in one input (the first occurrence is used)."""


def compile_match_regex(pattern: str) -> re.Pattern[str]:
    """``--match-regex``, compiled, or a one-line UsageError."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"--match-regex {pattern!r} is not a valid regular expression: "
                         f"{exc}") from None


def rekey(dataset: TrajectorySet, pattern: re.Pattern[str]) -> None:
    """Recompute every key of an input with ``--match-regex`` (applied to the movie names), in
    its reference table too, so that the subsets of every format follow the new keys."""
    renamed: dict[str, str] = {}
    for item in dataset.trajectories:
        renamed[item.key] = item.key = movie_key(item.movie_name, pattern)
        item.extras.pop("alternate_key", None)
    problems = []
    for problem in dataset.problems:
        renamed[problem.key] = movie_key(problem.movie_name, pattern)
        problems.append(replace(problem, key=renamed[problem.key]))
    dataset.problems = problems
    table = dataset.micrograph_table
    if table is not None:
        table.row_keys = [renamed.get(k, k) for k in table.row_keys]


def _index(dataset: TrajectorySet, duplicates: list[str]) -> dict[str, Trajectory | Problem]:
    index: dict[str, Trajectory | Problem] = {}
    items: list[Trajectory | Problem] = [*dataset.trajectories, *dataset.problems]
    for item in items:
        if item.key in index:
            duplicates.append(f"{item.key} ({item.source}, first {index[item.key].source})")
            continue
        index[item.key] = item
    return index


def _alternate_keys(index: dict[str, Trajectory | Problem],
                    other: dict[str, Trajectory | Problem]) -> None:
    """Re-key an unpaired item under its alternative key when only that one pairs (old-style
    MotionCor2 log names, whose last digit may be a stack index or part of the movie name)."""
    for key in [key for key in index if key not in other]:
        item = index[key]
        alternate = item.extras.get("alternate_key") if isinstance(item, Trajectory) else None
        if isinstance(item, Trajectory) and isinstance(alternate, str) \
                and alternate in other and alternate not in index:
            item.key = alternate
            index[alternate] = index.pop(key)


def pair_sets(reference: TrajectorySet, secondary: TrajectorySet) -> Matching:
    """Pair the movies of two inputs by key; the order follows the reference input."""
    duplicates: list[str] = []
    ref_index = _index(reference, duplicates)
    sec_index = _index(secondary, duplicates)
    _alternate_keys(ref_index, sec_index)
    _alternate_keys(sec_index, ref_index)
    pairs: list[Pair] = []
    for key, ref in ref_index.items():
        sec = sec_index.get(key)
        if sec is None:
            continue
        pairs.append(Pair(key, ref, sec))
    only_ref = [k for k in ref_index if k not in sec_index]
    only_sec = [k for k in sec_index if k not in ref_index]
    return Matching(pairs, only_ref, only_sec, duplicates)

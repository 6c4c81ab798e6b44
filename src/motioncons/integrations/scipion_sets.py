"""The engine of the Scipion plugin, without Scipion: two ``SetOfMovies`` read as they grow,
paired by Scipion object id, every common movie decided exactly once.

The plugin (``motioncons_scipion``) calls `SetsConsensus.update` on every poll with both sets
as `motioncons.formats.scipion` reads them, and appends the movies it returns to its accepted or
discarded outputs. Decisions are final once returned, as Scipion's streaming outputs only grow:
they are fixed on the same basis as ``watch``'s (the axis convention and the ``auto`` RMSE limit
estimated on the first moving movies, `fix_basis`); when both sets are closed before the first
poll, everything is decided at once, exactly as ``motioncons run`` decides it.

Pairing follows the original protocol: by object id. When the ids of the two sets do not name
the same movies (a secondary set from another import, or a subset), movies pair by name instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..evaluation import (
    Basis,
    Options,
    build_summary,
    decide_pairs,
    fix_basis,
    split_pairs,
)
from ..figures.overlay_codec import row_overlays
from ..matching import Pair, pair_sets
from ..pipeline import draw_overlays, write_figures, write_outputs
from ..records import Row, Summary
from ..trajectory import Problem, Trajectory, TrajectorySet

BY_ID = "object id"
BY_NAME = "movie name"
FREEZE_AFTER = 20


@dataclass
class Decided:
    """One movie decided: its row (``consensus.csv``'s fields) and the reference's object id."""

    row: Row
    reference_id: int


def object_id(item: Trajectory | Problem) -> int:
    """The Scipion object id of an item read by `motioncons.formats.scipion` (``path#id``)."""
    return int(item.source.rsplit("#", 1)[1])


def _by_id(dataset: TrajectorySet) -> dict[int, Trajectory | Problem]:
    items: list[Trajectory | Problem] = [*dataset.trajectories, *dataset.problems]
    return {object_id(item): item for item in items}


@dataclass
class SetsConsensus:
    """Decisions over two growing Scipion sets; see the module docstring.

    Examples
    --------
    >>> engine = SetsConsensus(motioncons.options(fit="xmipp"))
    >>> new = engine.update(read("movies1.sqlite"), read("movies2.sqlite"), closed=True)
    >>> [(d.reference_id, d.row.decision) for d in new][:1]
    [(1, 'accepted')]
    """

    options: Options
    freeze_after: int = FREEZE_AFTER
    rows: list[Row] = field(default_factory=list)
    pairing: str | None = None
    """``object id`` or ``movie name``, chosen when the first movies pair."""
    basis: Basis | None = None
    waiting: str = ""
    """What deciding waits for, or empty."""
    notes: list[str] = field(default_factory=list)
    only_in_reference: list[str] = field(default_factory=list)
    only_in_secondary: list[str] = field(default_factory=list)
    decided_ids: set[int] = field(default_factory=set)
    inputs: dict[str, dict[str, object]] = field(default_factory=dict)

    def update(self, reference: TrajectorySet, secondary: TrajectorySet,
               closed: bool) -> list[Decided]:
        """Decide the movies of both sets not decided yet; `closed`: both sets are closed, so
        everything left is decided now. Returns the new decisions, in reference id order."""
        self.inputs = {"reference": {"path": reference.path, "format": reference.format,
                                     "closed": closed},
                       "secondary": {"path": secondary.path, "format": secondary.format,
                                     "closed": closed}}
        pairs = self._pairs(reference, secondary)
        new = [(ref_id, pair) for ref_id, pair in pairs if ref_id not in self.decided_ids]
        if not new:
            return []
        if self.basis is None:
            basis = fix_basis([pair for _, pair in pairs], self.options, self.freeze_after,
                              closed)
            if isinstance(basis, str):
                self.waiting = basis
                return []
            self.basis, self.waiting = basis, ""
        ids = {pair.key: ref_id for ref_id, pair in new}
        valid, invalid = split_pairs([pair for _, pair in new], self.options)
        calibration = self.basis.calibration  # only with --max-rmse auto
        decided, _ = decide_pairs(valid, self.options, self.convention,
                                  frozen_rmse_px=calibration.threshold_px if calibration else None)
        rows = sorted([*decided, *invalid], key=lambda row: ids[row.movie])
        self.rows += rows
        self.decided_ids.update(ids.values())
        return [Decided(row, ids[row.movie]) for row in rows]

    @property
    def convention(self) -> str:
        estimate = self.basis.estimate if self.basis else None  # none with the xmipp fit
        return estimate.name if estimate is not None else "identity"

    def _pairs(self, reference: TrajectorySet, secondary: TrajectorySet
               ) -> list[tuple[int, Pair]]:
        ref_items, sec_items = _by_id(reference), _by_id(secondary)
        common = sorted(ref_items.keys() & sec_items.keys())
        if self.pairing is None:
            self.pairing = self._choose_pairing(ref_items, sec_items, common)
        if self.pairing == BY_NAME:
            matching = pair_sets(reference, secondary)
            self.only_in_reference = matching.only_in_reference
            self.only_in_secondary = matching.only_in_secondary
            return sorted(((object_id(p.reference), p) for p in matching.pairs),
                          key=lambda item: item[0])
        pairs: list[tuple[int, Pair]] = []
        seen: set[str] = set()
        for i in common:
            ref = ref_items[i]
            key = ref.key if ref.key not in seen else f"{ref.key}#{i}"
            seen.add(key)
            pairs.append((i, Pair(key, _keyed(ref, key), _keyed(sec_items[i], key))))
        self.only_in_reference = [ref_items[i].key for i in sorted(ref_items.keys() - set(common))]
        self.only_in_secondary = [sec_items[i].key for i in sorted(sec_items.keys() - set(common))]
        return pairs

    def _choose_pairing(self, ref_items: dict[int, Trajectory | Problem],
                        sec_items: dict[int, Trajectory | Problem], common: list[int]
                        ) -> str | None:
        """By id, as the original, when the common ids name the same movies, or when no name
        pairs at all (sets imported under other names); by name when the ids are shifted."""
        differ = [i for i in common if ref_items[i].key != sec_items[i].key]
        ref_names = {item.key for item in ref_items.values()}
        names_pair = any(item.key in ref_names for item in sec_items.values())
        if not common:
            if not names_pair:
                return None  # nothing pairs yet
            self.notes.append("the two sets share no object id: paired by movie name")
            return BY_NAME
        if not differ:
            return BY_ID
        if not names_pair:
            self.notes.append(f"the two sets name their movies differently (e.g. "
                              f"{ref_items[differ[0]].key} and {sec_items[differ[0]].key}): "
                              "paired by Scipion object id, as the original protocol")
            return BY_ID
        self.notes.append(f"{len(differ)} of {len(common)} common object ids name different "
                          f"movies in the two sets (e.g. id {differ[0]}: "
                          f"{ref_items[differ[0]].key} and {sec_items[differ[0]].key}): "
                          "paired by movie name")
        return BY_NAME

    # ----------------------------------------------------------------- outputs

    def summary(self) -> Summary:
        estimate = self.basis.estimate if self.basis else None
        warnings = [*(estimate.warnings if estimate else []), *self.notes]
        if self.waiting:
            warnings.append(self.waiting + "; no movie is decided before that")
        summary = build_summary(self.inputs, self.only_in_reference, self.only_in_secondary, [],
                                self.rows, self.options, estimate, warnings,
                                self.basis.calibration if self.basis else None)
        summary["pairing"] = self.pairing
        return summary

    def draw(self, out_dir: Path, decided: list[Decided]) -> None:
        """The overlays of newly decided movies (the options' ``plots``) into ``out_dir/plots``."""
        draw_overlays(out_dir, [d.row for d in decided], self.options.plots,
                      workers=self.options.workers)

    def write(self, out_dir: Path, table: object | None = None) -> list[str]:
        """``consensus.csv``, ``summary.json`` and (with the report) ``summary.png`` and
        ``report.html`` of every movie decided so far, into `out_dir`."""
        summary = self.summary()
        figures: list[str] = []
        if self.options.report and self.rows:
            summary["outputs"] = []
            figures = write_figures(out_dir, self.rows, row_overlays(self.rows), summary)
        return write_outputs(out_dir, "scipion SetOfMovies", table, self.rows, summary, figures)


def _keyed(item: Trajectory | Problem, key: str) -> Trajectory | Problem:
    return item if item.key == key else replace(item, key=key)

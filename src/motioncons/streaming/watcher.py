"""Incremental run during data collection (DESIGN §6), on the same pipeline as the batch run.

Each poll lists both inputs, parses only the result files that are new or changed, and decides
every movie whose two results are complete. Decisions go to an SQLite state file in one
transaction per poll; the outputs are then rewritten atomically. A result that cannot be parsed
yet (still being written) is retried on later polls and only declared ``unreadable`` once it has
stayed so for `settle` seconds. The dataset-level convention is estimated from the first
`freeze_after` movies that move, frozen and stored; nothing is decided before that. The run ends
when both inputs are closed and everything is decided. Killing the process at any moment and
starting it again gives the same final outputs.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..consensus import ConventionEstimate, RmseCalibration
from ..errors import MotionconsError
from ..evaluation import (
    Comparison,
    Options,
    apply_overrides,
    build_summary,
    decide_comparison,
    decide_pairs,
    fix_basis,
    split_pairs,
    uses_auto_rmse,
)
from ..figures.overlay_codec import row_overlays
from ..matching import Pair
from ..outputs import comparison_file
from ..outputs.folder import OutputFolder
from ..pipeline import draw_overlays, read_overrides, stored_options, write_figures, write_outputs
from ..records import Row, Summary
from ..streaming.sources import Change, Source, listed_problem, open_source
from ..streaming.state import STATE_FILE, StateStore
from ..trajectory import Problem, Trajectory

SIDES = ("reference", "secondary")
# Reasons that may only mean "still being written": retried until the settle time has passed.
_RETRY_REASONS = ("unreadable",)


@dataclass(frozen=True)
class WatchOptions:
    """How `Watcher` polls and when it stops (the ``watch`` command's options).

    Examples
    --------
    >>> WatchOptions(interval=5.0, until_idle=600.0).settle
    60.0
    """

    interval: float = 10.0
    settle: float = 60.0
    until_idle: float | None = None
    stop_file: str | None = None
    freeze_after: int = 20
    """Moving movies needed before the convention is estimated and frozen."""
    report_every: float = 30.0
    """Seconds between refreshes of the report and summary figure (also refreshed at the end)."""


@dataclass
class PollReport:
    new_results: int
    decided: int
    finished: bool


def _estimate_from_dict(data: dict) -> ConventionEstimate:
    return ConventionEstimate(data["applied"], data["estimated"], data["forced"],
                              data["moving_pairs"], data["votes"], data["scale"], data["note"])


class Watcher:
    """The streaming engine: decides movies as their results arrive, until both inputs close.

    Holds the output folder's lock until `close`. `run` polls until the inputs are closed (or
    a signal, or `max_polls`); `poll` does one pass, as the RELION External job does.

    Examples
    --------
    >>> watcher = Watcher("MotionCorr/job002", "MotionCorr/job003", "consensus",
    ...                   watch=WatchOptions(interval=5.0))
    >>> try:
    ...     report = watcher.run()
    ... finally:
    ...     watcher.close()
    >>> report.finished
    True
    """

    def __init__(self, reference: str | Path, secondary: str | Path, out_dir: str | Path,
                 options: Options | None = None, watch: WatchOptions | None = None,
                 clock: Callable[[], float] = time.time, force: bool = False,
                 folder: OutputFolder | None = None) -> None:
        """`folder`, when given, is the output folder already locked by the caller."""
        self.options = options or Options()
        self.options.validate()
        self.watch = watch or WatchOptions()
        self.clock = clock
        self.paths = {"reference": str(reference), "secondary": str(secondary)}
        self.sources: dict[str, Source] = {
            side: open_source(path, self.options.pixel_size, self.options.cryosparc_project_dir)
            for side, path in self.paths.items()}
        self._owns_folder = folder is None
        self.folder = folder or OutputFolder(out_dir).lock()
        try:
            self.folder.claim("watch", reference, secondary, force)
            self.out = self.folder.path
            self.state = StateStore(self.out / STATE_FILE)
        except BaseException:
            if self._owns_folder:
                self.folder.unlock()
            raise
        for _, rs, rt, ss, st in self.state.sources():
            self.sources["reference"].remember(rs, rt)
            self.sources["secondary"].remember(ss, st)
        self.pending: dict[str, dict[str, tuple[Trajectory | Problem, Change]]] = {
            side: {} for side in SIDES}
        # Results awaited (being written) when an earlier process stopped; one it decided
        # before it was killed, and before it stored that the result was awaited no more, is
        # not (it is never reported again, and the watch would never finish).
        awaited: dict[str, float] = self.state.get("retry_since") or {}  # type: ignore
        self.retry_since = {source: since for source, since in awaited.items()
                            if not any(source in s.known for s in self.sources.values())}
        stored = self.state.get("convention")
        self.estimate = _estimate_from_dict(stored) if isinstance(stored, dict) else None
        frozen = self.state.get("max_rmse_px")
        self.max_rmse_px = float(frozen) if isinstance(frozen, int | float) else None
        self.overrides = read_overrides(self.options.override)
        self.calibration: RmseCalibration | None = None
        self.last_new = clock()
        self.last_report = -math.inf
        self.stop_requested = False
        self.finished = False
        self.redecided = 0
        self.waiting = ""
        """What deciding waits for (the convention or the auto threshold), or empty."""
        try:
            self._check_options()
        except BaseException:
            self.close()
            raise

    # ----------------------------------------------------------------- setup

    def _check_options(self) -> None:
        """Other inputs (or options that change what is compared) are refused; other
        thresholds re-decide every movie already decided (a Scheme may tighten one)."""
        fingerprint = {"fit": self.options.fit, "convention": self.options.convention,
                       "pixel_size": self.options.pixel_size,
                       "early_frames": self.options.early_frames,
                       "inputs": [os.path.abspath(p) for p in (self.paths["reference"],
                                                               self.paths["secondary"])]}
        stored = self.state.get("options")
        if stored is None:
            self.state.put("options", fingerprint)
        elif stored != fingerprint:
            raise MotionconsError(
                f"{self.state.path}: this output directory was made with other inputs or "
                f"options ({json.dumps(stored)}); use a new output directory")
        thresholds = self.options.decision_options()
        previous = self.state.get("decision_options")
        if previous is not None and previous != thresholds and self.state.count():
            self.redecided = self.redecide_all()
        # Stored once every movie is decided with them: a process killed before that leaves
        # the old ones, and the next one decides again.
        self.state.put("decision_options", thresholds)

    # ----------------------------------------------------------------- one poll

    def _collect(self, now: float, final: bool) -> int:
        new = 0
        listed: set[str] | None = set()  # every result, when each side is polled in full
        for side in SIDES:
            source = self.sources[side]
            # Everything is stat-ed again once the inputs are closed (the last word), a rolling
            # part of the consumed results before (see RelionJobSource).
            full = final or source.closed()
            if not full:
                listed = None
            for change in source.poll(full=full):
                if listed is not None:
                    listed.add(change.source)
                item = source.read(change)
                if isinstance(item, Problem) and item.reason in _RETRY_REASONS and not final:
                    first = self.retry_since.setdefault(change.source, now)
                    if now - first < self.watch.settle:
                        continue  # not remembered, so the next poll reads it again
                self.retry_since.pop(change.source, None)
                source.remember(change.source, change.token)
                self.pending[side][item.key] = (item, change)
                self._load_partner(side, item.key)
                new += 1
        if listed is not None:
            # An awaited result that is gone (deleted, renamed) would be awaited for ever.
            for source_path in set(self.retry_since) - listed:
                del self.retry_since[source_path]
        return new

    def _load_partner(self, side: str, key: str) -> None:
        """A result changed after its movie was decided: bring back the other side's result."""
        other = "secondary" if side == "reference" else "reference"
        if key in self.pending[other]:
            return
        found = self.state.result_of(key, other)
        if found is None:
            return
        change = Change(found[0], found[1])
        source = self.sources[other]
        item = listed_problem(key, found[0]) if found[1] == "listed" else source.read(change)
        self.pending[other][key] = (item, change)

    def _ready(self) -> list[str]:
        return sorted(k for k in self.pending["reference"] if k in self.pending["secondary"])

    def _freeze(self, pairs: list[Pair], final: bool) -> bool:
        """Estimate and store the convention (and the ``auto`` RMSE threshold) once enough
        movies move; True when frozen."""
        if (self.options.fit == "xmipp" or self.estimate is not None) and \
                (not uses_auto_rmse(self.options) or self.max_rmse_px is not None):
            return True
        basis = fix_basis(pairs, self.options, self.watch.freeze_after, final, self.estimate)
        if isinstance(basis, str):
            self.waiting = basis
            return False
        self.waiting = ""
        if basis.estimate is not None:  # none with the xmipp fit
            self.estimate = basis.estimate
            self.state.put("convention", basis.estimate.as_dict())
        if basis.calibration is not None:
            self.calibration = basis.calibration
            self.max_rmse_px = basis.calibration.threshold_px
            self.state.put("max_rmse_px", basis.calibration.threshold_px)
        return True

    def _decide(self, final: bool) -> int:
        keys = self._ready()
        if not keys:
            return 0
        pairs = [Pair(k, self.pending["reference"][k][0], self.pending["secondary"][k][0])
                 for k in keys]
        if not self._freeze(pairs, final):
            return 0
        convention = self.estimate.name if self.estimate else "identity"
        valid, invalid = split_pairs(pairs, self.options)
        decided = decide_pairs(valid, self.options, convention,
                               frozen_rmse_px=self.max_rmse_px)[0]
        rows = decided + invalid
        apply_overrides(rows, self.overrides)
        draw_overlays(self.out, rows, self.options.plots, workers=self.options.workers)
        comparable = {pair.key: pair for pair in valid}
        overlays = row_overlays(rows)  # all at once: a sixth of the time of one at a time
        records = []
        for row in rows:
            ref_change = self.pending["reference"].pop(row.movie)[1]
            sec_change = self.pending["secondary"].pop(row.movie)[1]
            records.append((row, ref_change.source, ref_change.token, sec_change.source,
                            sec_change.token, overlays.get(row.movie),
                            comparable.get(row.movie)))
        self.state.record(records)
        return len(records)

    def comparison(self) -> Comparison:
        """What has been decided so far, as a batch run would have it."""
        valid, invalid = self.state.comparison_parts()
        only = self._unpaired()
        inputs = {side: {"path": self.paths[side], "format": self.sources[side].format}
                  for side in SIDES}
        return Comparison(valid, invalid, only["reference"], only["secondary"], [], inputs, [],
                          self._reference_format(), self.sources["reference"].table())

    def redecide_all(self) -> int:
        """Decide every stored movie again as ``run`` would (convention and ``auto`` threshold
        estimated on all of them): when the inputs close, so that ``watch`` ends equal to
        ``run``, and when the thresholds change (a Scheme tightening one)."""
        comparison = self.comparison()
        if not comparison.valid and not comparison.invalid:
            return 0
        decision = decide_comparison(comparison, self.options, self.overrides)
        draw_overlays(self.out, decision.rows, self.options.plots, workers=self.options.workers)
        overlays = row_overlays(decision.rows)
        self.state.redecided([(row, overlays.get(row.movie)) for row in decision.rows])
        if decision.estimate is not None:
            self.estimate = decision.estimate
            self.state.put("convention", decision.estimate.as_dict())
        if decision.calibration is not None:
            self.calibration = decision.calibration
            self.max_rmse_px = decision.calibration.threshold_px
            self.state.put("max_rmse_px", self.max_rmse_px)
        return len(decision.rows)

    def _closed(self, now: float) -> bool:
        if self.watch.stop_file and os.path.exists(self.watch.stop_file):
            return True
        if self.watch.until_idle is not None and now - self.last_new >= self.watch.until_idle:
            return True
        return all(source.closed() for source in self.sources.values())

    def _finalise(self) -> None:
        """Inputs are closed: movies their indexes list without a result become invalid pairs."""
        decided = self.state.keys()
        for side in SIDES:
            for problem in self.sources[side].listed():
                if problem.key not in decided and problem.key not in self.pending[side]:
                    self.pending[side][problem.key] = (problem, Change(problem.source, "listed"))

    def poll(self) -> PollReport:
        now = self.clock()
        new = self._collect(now, final=False)
        if new:
            self.last_new = now
        decided = self._decide(final=False)
        finished = False
        if not new and not self.retry_since and self._closed(now):
            self._finalise()
            decided += self._decide(final=True)
            self.redecide_all()
            finished = True
        self.state.put("retry_since", self.retry_since)
        self.finished = finished
        if decided or finished or self.redecided or not (self.out / "consensus.csv").exists():
            self.write_outputs()
            self.redecided = 0
        return PollReport(new, decided, finished)

    # ----------------------------------------------------------------- outputs

    def _unpaired(self) -> dict[str, list[str]]:
        return {side: sorted(k for k in self.pending[side]
                             if k not in self.pending["secondary" if side == "reference"
                                                      else "reference"]) for side in SIDES}

    def _reference_format(self) -> str:
        reference = self.sources["reference"]
        return "relion" if reference.format.startswith("relion") else reference.format

    def summary(self, rows: list[Row]) -> Summary:
        only = self._unpaired()
        warnings = list(self.estimate.warnings) if self.estimate else []
        if self.waiting and not self.finished:
            warnings.append(self.waiting + "; no movie is decided before that")
        if only["reference"] or only["secondary"]:
            warnings.append(f"{len(only['reference'])} movie(s) only in the reference, "
                            f"{len(only['secondary'])} only in the secondary so far")
        inputs = {side: {"path": self.paths[side], "format": self.sources[side].format,
                         "closed": self.sources[side].closed()} for side in SIDES}
        summary = build_summary(inputs, only["reference"], only["secondary"], [], rows,
                                self.options, self.estimate, warnings, self._calibration())
        summary["stream"] = {"finished": self.finished, "pending_retries": len(self.retry_since)}
        return summary

    def _calibration(self) -> RmseCalibration | None:
        if self.calibration is None and self.max_rmse_px is not None:
            self.calibration = RmseCalibration(self.max_rmse_px, None, None, 0,
                                               "frozen when the convention was")
        return self.calibration

    def write_outputs(self) -> list[str]:
        rows = self.state.rows()
        reference = self.sources["reference"]
        summary = self.summary(rows)
        if self.finished or self.redecided:
            comparison_file.save(self.out / comparison_file.FILE, self.comparison(),
                                 stored_options(self.options))
        figures = []
        if self.options.report:
            now = time.monotonic()
            if self.finished or now - self.last_report >= self.watch.report_every or \
                    not (self.out / "report.html").exists():
                write_figures(self.out, rows, self.state.overlays(), summary)
                self.last_report = now
            figures = ["summary.png", "report.html"]
        return write_outputs(self.out, self._reference_format(), reference.table(), rows,
                             summary, figures)

    # ----------------------------------------------------------------- loop

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop_requested = True
        # A second signal ends the process at once; state and outputs are always consistent.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def run(self, on_poll: Callable[[PollReport], None] | None = None,
            max_polls: int | None = None) -> PollReport:
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in previous:
            signal.signal(s, self._on_signal)
        try:
            polls = 0
            while True:
                report = self.poll()
                polls += 1
                if on_poll:
                    on_poll(report)
                if report.finished or self.stop_requested or (max_polls and polls >= max_polls):
                    return report
                deadline = time.monotonic() + self.watch.interval
                while not self.stop_requested:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    time.sleep(min(0.05, left))
                if self.stop_requested:
                    self.poll()
                    return report
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def close(self) -> None:
        self.state.close()
        if self._owns_folder:
            self.folder.unlock()


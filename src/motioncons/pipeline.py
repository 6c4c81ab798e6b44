"""Batch run: read both inputs, pair them, decide every pair, write the outputs; and
``decide``: the same decisions again from what a run stored, with other thresholds."""

from __future__ import annotations

import contextlib
import csv
import gc
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import allocator
from .errors import InputError, MotionconsError
from .evaluation import (
    DECISIONS,
    Comparison,
    Decision,
    Options,
    decide_comparison,
    prepare,
    summary_of,
)

__all__ = ["Options", "compare_inputs", "decide", "read_inputs", "run", "write_outputs"]
from .figures.overlay_codec import row_overlays
from .figures.plots import (
    plot_name,
    render_overlays,
    rendering,
    save_summary,
    wanted,
)
from .figures.report import write_report
from .formats import read_input, relion
from .formats.cryosparc import CryosparcExposures
from .formats.relion import RelionMicrographTable
from .formats.relion_batch import shared_readers
from .formats.scipion import ScipionSet
from .matching import compile_match_regex, rekey
from .outputs import comparison_file
from .outputs.atomic import ensure_directory
from .outputs.cryosparc_subsets import write_cryosparc_subsets
from .outputs.folder import OutputFolder
from .outputs.relion_star import write_relion_subsets
from .outputs.scipion_lists import write_scipion_lists
from .outputs.summary import write_summary
from .outputs.table import write_csv
from .records import Row, RunResult, Summary
from .trajectory import TrajectorySet
from .workers import alongside

CSV_ALONGSIDE_ROWS = 20_000
"""From this many movies on, a second process writes consensus.csv (or the npz) meanwhile."""
FIGURES = ("summary.png", "report.html")


def write_outputs(out_dir: Path, reference_format: str, table: object | None,
                  rows: list[Row], summary: Summary,
                  figures: list[str] | None = None, remove_stale: bool = True,
                  csv_written: bool = False) -> list[str]:
    """Write every output atomically, then (unless not `remove_stale`) remove what an earlier
    pass wrote and this one did not; rows go out sorted by movie key in every mode.

    With `csv_written`, the caller writes ``consensus.csv`` (`write_sorted_csv`)."""
    ensure_directory(out_dir)
    rows = sorted(rows, key=_by_movie)
    if not csv_written:
        write_csv(out_dir / "consensus.csv", rows)
    written = ["consensus.csv", *_write_subsets(out_dir, reference_format, table, rows)]
    if _plot_paths(rows):
        written.append("plots/")
    summary["outputs"] = [*written, *(figures or []), "summary.json"]
    write_summary(out_dir / "summary.json", summary)
    if remove_stale:
        _remove_stale(out_dir, summary["outputs"], rows)
    return list(summary["outputs"])


def _by_movie(row: Row) -> str:
    return row.movie


def write_sorted_csv(out_dir: Path, rows: list[Row]) -> None:
    """``consensus.csv`` as `write_outputs` writes it."""
    write_csv(out_dir / "consensus.csv", sorted(rows, key=_by_movie))


def _write_subsets(out_dir: Path, reference_format: str, table: object | None,
                   rows: list[Row]) -> list[str]:
    """The reference's own tables, subset: RELION STAR, Scipion lists, cryoSPARC datasets."""
    written: list[str] = []
    decided = {row.movie: row for row in rows}
    if isinstance(table, RelionMicrographTable) or (
            table is None and reference_format.startswith("relion")):
        movie_names = {row.movie: row.movie_name for row in rows if row.movie_name}
        written += write_relion_subsets(out_dir, table, decided, movie_names)
    elif isinstance(table, ScipionSet):
        written += write_scipion_lists(out_dir, table, decided)
    elif isinstance(table, CryosparcExposures):
        written += write_cryosparc_subsets(out_dir, table, decided)
    return written


def _plot_paths(rows: list[Row]) -> set[str]:
    return {row.plot_path for row in rows if row.plot_path}


def _remove_stale(out_dir: Path, outputs: list[str], rows: list[Row]) -> None:
    """Remove what an earlier pass wrote and this one did not (`outputs`, the rows' plots)."""
    OutputFolder(out_dir).remove_stale(outputs, _plot_paths(rows))


def _with_plot_paths(rows: list[Row], choice: str) -> list[Row]:
    """The rows whose overlay `choice` asks for, each given its plot's path."""
    chosen = wanted(rows, choice)
    for row in chosen:
        row.plot_path = plot_name(row.movie)
    return chosen


def draw_overlays(out_dir: Path, rows: list[Row], choice: str, progress=None,
                  workers: int | None = None) -> int:
    """Render the wanted per-movie overlays and record their paths on the rows."""
    return render_overlays(_with_plot_paths(rows, choice), out_dir, workers=workers,
                           progress=progress)


def _require_readable(dataset: TrajectorySet) -> None:
    """A run in which one input has no readable movie cannot say anything: stop, and say where
    the first movie was looked for (e.g. a corrected_micrographs.star copied out of its
    project, whose relative paths then lead nowhere)."""
    if dataset.trajectories or not dataset.problems:
        return
    reasons: dict[str, int] = {}
    for problem in dataset.problems:
        reasons[problem.reason] = reasons.get(problem.reason, 0) + 1
    counted = ", ".join(f"{n} {reason}" for reason, n in reasons.items())
    raise MotionconsError(f"{dataset.path}: none of its {len(dataset.problems)} movies could be "
                          f"read ({counted}); the first: {dataset.problems[0].message}")


def write_figures(out_dir: Path, rows: list[Row], overlays: dict[str, bytes],
                  summary: Summary) -> list[str]:
    """``summary.png`` and the self-contained ``report.html`` (`FIGURES`)."""
    draw_summary(out_dir, rows, summary)
    _write_report(out_dir, rows, overlays, summary)
    return list(FIGURES)


def draw_summary(out_dir: Path, rows: list[Row], summary: Summary) -> None:
    save_summary(rows, summary, out_dir / "summary.png")


def _write_report(out_dir: Path, rows: list[Row], overlays: dict[str, bytes],
                  summary: Summary) -> None:
    """``report.html``, with ``summary.png`` as drawn."""
    write_report(out_dir / "report.html", sorted(rows, key=_by_movie), overlays, summary,
                 lambda: (out_dir / "summary.png").read_bytes())


def read_inputs(reference_path: str | Path, secondary_path: str | Path,
                options: Options) -> tuple[TrajectorySet, TrajectorySet, list[str]]:
    """Both inputs, re-keyed by ``--match-regex`` when given, and warnings about them."""
    warnings = []
    if os.path.abspath(reference_path) == os.path.abspath(secondary_path):
        warnings.append(f"the reference and the secondary are the same input ({reference_path}):"
                        " every movie will agree with itself")
    inputs: list[TrajectorySet] = []
    with shared_readers() as session:  # both inputs read by one pool of processes
        # The secondary's first files are read while the reference's last are taken.
        session.upcoming = lambda: relion.prepare(secondary_path, options.workers)
        for path, keep_table in ((reference_path, True), (secondary_path, False)):
            # The secondary names the reference's movies: one copy of each name is kept.
            reference = inputs[0] if inputs else None
            dataset = read_input(path, options.pixel_size,
                                 cryosparc_project_dir=options.cryosparc_project_dir,
                                 workers=options.workers, keep_table=keep_table,
                                 names_from=None if options.match_regex else reference)
            _require_readable(dataset)
            if options.match_regex:
                rekey(dataset, compile_match_regex(options.match_regex))
                if reference is not None:
                    dataset.share_names(reference)  # by the new keys
            inputs.append(dataset)
    return inputs[0], inputs[1], warnings


def read_overrides(path: str | Path | None) -> dict[str, str]:
    """``--override FILE``: a CSV with columns ``movie,decision`` (accepted or discarded)."""
    if path is None:
        return {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            table = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"cannot read the manual decisions: {exc}") from exc
    overrides = {}
    for line, row in enumerate(table, start=2):
        movie, decision = (row.get("movie") or "").strip(), (row.get("decision") or "").strip()
        if decision == "rejected":
            decision = "discarded"
        if not movie or decision not in DECISIONS:
            raise InputError(path, f"line {line}: expected columns movie,decision with decision "
                                   "accepted or discarded")
        overrides[movie] = decision
    return overrides


@contextlib.contextmanager
def _collector(enabled: bool) -> Iterator[None]:
    """The cyclic garbage collector on or off for a block, then as it was."""
    was = gc.isenabled()
    _switch(enabled)
    try:
        yield
    finally:
        if was and not enabled:
            _aged()
        _switch(was)


def _aged() -> None:
    """Every object the collector tracks moved to its oldest generation, none visited: after
    a pause, everything made meanwhile is in its youngest, and the first allocation once it
    is on again would start a pass over all of it (a run of 50,000 movies: 75 ms, at the end
    of every run). In the oldest generation they are visited when a full pass is due, as
    long-lived objects are; still collected if they ever form cycles."""
    gc.freeze()
    gc.unfreeze()


def _switch(enabled: bool) -> None:
    if enabled:
        gc.enable()
    else:
        gc.disable()


def paused_gc() -> contextlib.AbstractContextManager[None]:
    """Cyclic garbage collection paused for a batch run (and inherited by the readers it forks).

    A run allocates millions of objects (trajectories, rows, strings), none of them in cycles
    worth collecting, and the collector's full passes over them cost about a tenth of a run
    (1.1 s of 10.3 s on 50,000 pairs). Reference counting still frees everything.
    """
    return _collector(False)


def compare_inputs(reference_path: str | Path, secondary_path: str | Path, options: Options,
                   overrides: dict[str, str]) -> tuple[Comparison, Decision]:
    """Read both inputs, pair them and decide every pair, in memory."""
    comparison = _paired(reference_path, secondary_path, options)
    return comparison, decide_comparison(comparison, options, overrides)


def _paired(reference_path: str | Path, secondary_path: str | Path,
            options: Options) -> Comparison:
    """The inputs read and paired."""
    reference, secondary, notes = read_inputs(reference_path, secondary_path, options)
    # The comparison holds all that deciding and writing need: the inputs' per-movie objects
    # are freed as they are paired, before the outputs are built (peak memory), and what
    # reading left free in the C heap is given back before deciding.
    comparison = prepare(reference, secondary, options, notes, release_inputs=True)
    allocator.release_free()
    return comparison


def run(reference_path: str | Path, secondary_path: str | Path, out_dir: str | Path,
        options: Options | None = None, progress=None, force: bool = False) -> RunResult:
    """Read both inputs, decide every pair, and write the outputs into `out_dir`.

    The folder is locked for the run; one holding another run's outputs is refused unless
    `force`, which replaces them.
    """
    options = options or Options()
    options.validate()
    overrides = read_overrides(options.override)
    with OutputFolder(out_dir) as folder, paused_gc():
        folder.claim("run", reference_path, secondary_path, force)
        comparison = _paired(reference_path, secondary_path, options)
        # What `decide` needs later is written first, by a second process while this one
        # decides when worth one (deciding uses one core); the samples are then released
        # (before the rows are built in a core run, after in a run whose rows keep them).
        with alongside(lambda: _save_comparison(folder.path, comparison, options),
                       _second_process_pays(len(comparison.valid), options)):
            decision = decide_comparison(comparison, options, overrides, release_samples=True)
        return write_decision(folder.path, comparison, decision, options, progress)


def write_run(out: Path, comparison: Comparison, decision: Decision, options: Options,
              progress=None) -> RunResult:
    """Everything a run writes: what `decide` needs later, then the outputs."""
    _save_comparison(out, comparison, options)
    return write_decision(out, comparison, decision, options, progress)


def _second_process_pays(movies: int, options: Options) -> bool:
    """Whether writing beside this process is worth a process: tens of thousands of movies,
    and more than one core to run on."""
    return movies >= CSV_ALONGSIDE_ROWS and _cores(options) > 1


def _cores(options: Options) -> int:
    return options.workers or os.cpu_count() or 1


def _save_comparison(out: Path, comparison: Comparison, options: Options) -> None:
    comparison_file.save(out / comparison_file.FILE, comparison, stored_options(options))


def stored_options(options: Options) -> dict[str, Any]:
    """The options a later ``decide`` starts from (the thresholds may then change)."""
    return {"fit": options.fit, "convention": options.convention,
            "pixel_size": options.pixel_size, "early_frames": options.early_frames,
            "plots": options.plots, "report": options.report,
            "match_regex": options.match_regex, **options.decision_options()}


def write_decision(out: Path, comparison: Comparison, decision: Decision, options: Options,
                   progress=None) -> RunResult:
    """The outputs of a decision (what a later ``decide`` needs is already in place)."""
    rows = decision.rows
    overlays = _with_plot_paths(rows, options.plots)
    # The overlays are drawn by worker processes while this process writes everything else;
    # what an earlier run wrote and this one did not is removed once they are all drawn.
    # consensus.csv goes to a process of its own when the run is large enough to pay for it
    # (`decide` then uses the second core, which draws few overlays or none); it is forked
    # before the overlay workers (a process with threads is not forked).
    with contextlib.ExitStack() as stack:
        stack.enter_context(alongside(lambda: write_sorted_csv(out, rows),
                                      _second_process_pays(len(rows), options)))
        summary = summary_of(comparison, decision, options)
        shown: Summary = {**summary, "outputs": []}  # the report's: before the outputs are listed
        stack.enter_context(rendering(overlays, out, options.workers, progress))
        if options.report:
            draw_summary(out, rows, shown)
        outputs = write_outputs(out, comparison.reference_format, comparison.table, rows,
                                summary, list(FIGURES) if options.report else [],
                                remove_stale=False, csv_written=True)
        if options.report:
            _write_report(out, rows, row_overlays(rows), shown)
    _remove_stale(out, outputs, rows)
    return RunResult(rows, summary, decision.warnings, outputs)


def decide(out_dir: str | Path, changes: dict[str, Any] | None = None,
           progress=None, workers: int | None = None) -> RunResult:
    """Re-decide a finished output folder from what it stores, without reading the inputs.

    `changes` maps option names of `Options.decision_options` (``min_corr``, ``max_rmse``, ...)
    to new values; the others keep the values the folder was last decided with. Every output is
    rewritten; the result equals a fresh ``run`` with the same options.

    Examples
    --------
    >>> result = motioncons.decide("consensus", {"min_corr": 0.9, "max_rmse": None})
    >>> result.summary["counts"]["accepted"]
    280
    """
    with OutputFolder(out_dir) as folder, paused_gc():
        comparison, stored = comparison_file.load(folder.path)
        current = {**stored, **_last_decision_options(folder.path)}
        current.update(changes or {})
        options = options_from(current, workers)
        decision = decide_comparison(comparison, options, read_overrides(options.override))
        return write_decision(folder.path, comparison, decision, options, progress)


def options_from(values: dict[str, Any], workers: int | None = None) -> Options:
    from .consensus import Thresholds

    thresholds = Thresholds(
        min_corr=float(values["min_corr"]), min_range=float(values["min_range"]),
        max_rmse_A=values["max_rmse"], max_error_A=values["max_error"],
        max_motion_A=values["max_motion"],
        max_early_motion_A=values["max_early_motion"])
    options = Options(thresholds=thresholds, fit=str(values["fit"]),
                      convention=str(values["convention"]),
                      pixel_size=values["pixel_size"],
                      early_frames=int(values["early_frames"]),
                      plots=str(values["plots"]), report=bool(values["report"]),
                      match_regex=values["match_regex"],
                      override=values["override"], workers=workers)
    options.validate()
    return options


def _last_decision_options(out: Path) -> dict[str, Any]:
    """The thresholds the folder was last decided with, from its ``summary.json``."""
    try:
        params = json.loads((out / "summary.json").read_text(encoding="utf-8"))["parameters"]
        return {"min_corr": params["min_corr"], "min_range": params["min_range_px"],
                "max_rmse": params["max_rmse"], "max_error": params["max_error_A"],
                "max_motion": params["max_motion_A"],
                "max_early_motion": params["max_early_motion_A"],
                "override": params["override"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}

"""Batch run: read both inputs, pair them, decide every pair, write the outputs."""

from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import gemmi
import numpy as np

from . import __version__
from .consensus import (
    CONVENTIONS,
    FITS,
    REASONS,
    Batch,
    ConventionEstimate,
    Results,
    Thresholds,
    compare,
    estimate_convention,
)
from .errors import MotionconsError, UsageError
from .formats import read_input
from .formats.cryosparc import CryosparcExposures
from .formats.relion import RelionMicrographTable
from .formats.scipion import ScipionSet
from .frames import CommonSamples, TooFewFrames, common_samples
from .matching import Matching, Pair, compile_match_regex, pair_sets, rekey
from .outputs.atomic import ensure_directory
from .outputs.cryosparc_subsets import write_cryosparc_subsets
from .outputs.folder import OutputFolder
from .outputs.relion_star import write_relion_subsets
from .outputs.scipion_lists import write_scipion_lists
from .outputs.summary import write_summary
from .outputs.table import write_csv
from .plots import PLOT_CHOICES, plot_name, render_overlays, save_summary, wanted
from .records import Row, RunResult
from .report import row_overlay, write_report
from .trajectory import Trajectory, TrajectorySet

PIXEL_SIZE_TOLERANCE = 0.01


@dataclass(frozen=True)
class Options:
    thresholds: Thresholds = field(default_factory=Thresholds)
    fit: str = "offset"
    convention: str = "auto"
    pixel_size: float | None = None
    keep_trajectories: bool = False
    """Keep each pair's reference and fitted secondary on the rows (for plots)."""
    plots: str = "discarded"
    """Per-movie overlay PNGs: ``none``, ``discarded`` or ``all``."""
    report: bool = True
    """Write ``summary.png`` and ``report.html``."""
    match_regex: str | None = None
    """Pair movies by the first group (or whole match) of this pattern on their names."""
    cryosparc_project_dir: str | None = None
    """The cryoSPARC project directory that ``.cs`` paths are relative to, when moved."""
    workers: int | None = None
    """Worker processes for reading and plotting (default: the cores, at most 8)."""

    @property
    def needs_trajectories(self) -> bool:
        return self.keep_trajectories or self.report or self.plots != "none"

    def validate(self) -> None:
        if self.plots not in PLOT_CHOICES:
            raise UsageError(f"--plots must be one of {', '.join(PLOT_CHOICES)}, not "
                             f"{self.plots!r}")
        if self.fit not in FITS:
            raise UsageError(f"--fit must be one of {', '.join(FITS)}, not {self.fit!r}")
        if self.convention != "auto" and self.convention not in CONVENTIONS:
            raise UsageError(f"--convention must be auto or one of {', '.join(CONVENTIONS)}, "
                             f"not {self.convention!r}")
        t = self.thresholds
        if not -1.0 <= t.min_corr <= 1.0:
            raise UsageError(f"--min-corr must lie in [-1, 1], not {t.min_corr}")
        if t.min_range < 0:
            raise UsageError(f"--min-range must not be negative, not {t.min_range}")
        for name, value in (("--max-rmse", t.max_rmse_A), ("--max-error", t.max_error_A),
                            ("--pixel-size", self.pixel_size)):
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise UsageError(f"{name} must be a positive number, not {value}")
        if not (math.isfinite(t.min_corr) and math.isfinite(t.min_range)):
            raise UsageError("--min-corr and --min-range must be numbers")
        if self.workers is not None and not 1 <= self.workers <= 256:
            raise UsageError(f"--j must be between 1 and 256, not {self.workers}")
        if self.match_regex is not None:
            compile_match_regex(self.match_regex)


@dataclass
class _Valid:
    pair: Pair
    samples: CommonSamples
    pixel_size: float | None


def _pixel_size(pair: Pair, fallback: float | None) -> float | None:
    for side in (pair.reference, pair.secondary):
        if isinstance(side, Trajectory) and side.pixel_size:
            return side.pixel_size
    return fallback


def _invalid_row(pair: Pair, reason: str, message: str, options: Options) -> Row:
    return Row(movie=pair.key, decision="discarded", reason=reason,
               reference_path=pair.reference.source, secondary_path=pair.secondary.source,
               fit=options.fit, movie_name=pair.reference.movie_name, message=message)


def split_pairs(pairs: list[Pair], options: Options) -> tuple[list[_Valid], list[Row]]:
    """Pairs that can be compared, and rows for those that cannot (decided as invalid)."""
    valid: list[_Valid] = []
    invalid: list[Row] = []
    for pair in pairs:
        problems = pair.problems
        if problems:
            message = " | ".join(p.message for p in problems)
            invalid.append(_invalid_row(pair, problems[0].reason, message, options))
            continue
        ref, sec = pair.reference, pair.secondary
        assert isinstance(ref, Trajectory) and isinstance(sec, Trajectory)
        for side, partner in ((ref, sec), (sec, ref)):
            if side.extras.get("needs_pixel_size") and partner.pixel_size:
                # Å-only formats take the pixel size of the paired movie of the other input.
                side.shifts = np.asarray(side.extras["angstrom"]) / partner.pixel_size
                side.pixel_size = partner.pixel_size
                side.extras["needs_pixel_size"] = False
                side.extras["pixel_size_from"] = "paired movie"
        unresolved = next((t for t in (ref, sec) if t.extras.get("needs_pixel_size")), None)
        if unresolved is not None:
            invalid.append(_invalid_row(pair, "unreadable", f"{unresolved.source}: shifts in Å "
                                        "and no pixel size (give --pixel-size)", options))
            continue
        try:
            samples = common_samples(ref, sec)
        except TooFewFrames as exc:
            message = f"{ref.source} vs {sec.source}: {exc}"
            invalid.append(_invalid_row(pair, "too_few_frames", message, options))
            continue
        valid.append(_Valid(pair, samples, _pixel_size(pair, options.pixel_size)))
    return valid, invalid


def make_batch(valid: list[_Valid]) -> Batch:
    return Batch.from_samples([v.samples.reference for v in valid],
                              [v.samples.secondary for v in valid],
                              [v.pixel_size for v in valid])


def decide(valid: list[_Valid], options: Options, convention: str,
           batch: Batch | None = None) -> list[Row]:
    """Decide the comparable pairs (`batch`, if given, must hold exactly them, in order)."""
    if not valid:
        return []
    batch = batch if batch is not None else make_batch(valid)
    results = compare(batch, options.thresholds, options.fit, convention,
                      keep_fitted=options.needs_trajectories)
    return [_row(item, results, j, options, convention) for j, item in enumerate(valid)]


def _row(item: _Valid, results: Results, j: int, options: Options, convention: str) -> Row:
    ref, sec = item.pair.reference, item.pair.secondary
    assert isinstance(ref, Trajectory) and isinstance(sec, Trajectory)
    pixel = math.nan if item.pixel_size is None else item.pixel_size
    row = Row(
        movie=item.pair.key,
        decision="accepted" if results.accepted[j] else "discarded",
        reason=str(results.reason[j]),
        corr=float(results.corr[j]), corr_x=float(results.corr_x[j]),
        corr_y=float(results.corr_y[j]), rmse_px=float(results.rmse_px[j]),
        max_error_px=float(results.max_error_px[j]),
        rmse_A=float(results.rmse_px[j]) * pixel,
        max_error_A=abs(float(results.max_error_px[j])) * pixel,
        range_ref_px=float(results.range_ref_px[j]), range_sec_px=float(results.range_sec_px[j]),
        frames=int(results.frames[j]), reference_path=ref.source, secondary_path=sec.source,
        fit=options.fit, convention="" if options.fit == "xmipp" else convention,
        rotation_deg=float(results.rotation_deg[j]), resampled=item.samples.resampled,
        pixel_size_A=pixel, movie_name=ref.movie_name,
    )
    if options.needs_trajectories:
        row.reference_shifts = item.samples.reference
        row.secondary_fitted = results.fitted[j]
        row.sample_frames = item.samples.frames
    return row


def _pixel_size_warnings(valid: list[_Valid]) -> list[str]:
    mismatched = []
    for v in valid:
        ref, sec = v.pair.reference, v.pair.secondary
        assert isinstance(ref, Trajectory) and isinstance(sec, Trajectory)
        if ref.pixel_size and sec.pixel_size and abs(ref.pixel_size - sec.pixel_size) > \
                PIXEL_SIZE_TOLERANCE * ref.pixel_size:
            mismatched.append((v.pair.key, ref.pixel_size, sec.pixel_size))
    if not mismatched:
        return []
    key, ref_size, sec_size = mismatched[0]
    return [f"pixel sizes disagree for {len(mismatched)} movie(s), e.g. {key}: reference "
            f"{ref_size:g} Å, secondary {sec_size:g} Å (the reference's is used for Å values)"]


def pixel_size_sources(valid: list[_Valid]) -> dict[str, int]:
    """How many trajectories took their pixel size from the file, the paired movie of the other
    input, or ``--pixel-size`` (formats that store none: IMOD, cisTEM, WarpTools JSON, tables)."""
    counts: dict[str, int] = {}
    for item in valid:
        for side in (item.pair.reference, item.pair.secondary):
            if isinstance(side, Trajectory):
                source = str(side.extras.get("pixel_size_from",
                                             "file" if side.pixel_size else "unknown"))
                counts[source] = counts.get(source, 0) + 1
    return counts


def _check_magnitude_criteria(valid: list[_Valid], options: Options) -> None:
    t = options.thresholds
    if t.max_rmse_A is None and t.max_error_A is None:
        return
    unknown = [v.pair.key for v in valid if v.pixel_size is None]
    if unknown:
        raise UsageError(f"--max-rmse/--max-error are in Å but {len(unknown)} movie(s) have no "
                         f"pixel size (e.g. {unknown[0]}); give --pixel-size")


def _input_summary(dataset: TrajectorySet) -> dict[str, object]:
    return {"path": dataset.path, "format": dataset.format,
            "movies": len(dataset.trajectories) + len(dataset.problems),
            "readable": len(dataset.trajectories), "problems": len(dataset.problems),
            "notes": dataset.notes}


def versions() -> dict[str, str]:
    return {"motioncons": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "gemmi": gemmi.__version__}


def input_summaries(reference: TrajectorySet, secondary: TrajectorySet) -> dict[str, object]:
    return {"reference": _input_summary(reference), "secondary": _input_summary(secondary)}


def build_summary(inputs: dict[str, object], only_in_reference: list[str],
                  only_in_secondary: list[str], duplicates: list[str], rows: list[Row],
                  options: Options, estimate: ConventionEstimate | None,
                  warnings: list[str]) -> dict[str, object]:
    """Everything `summary.json` says; deterministic for the same decisions (no timings)."""
    only_in_reference, only_in_secondary = sorted(only_in_reference), sorted(only_in_secondary)
    reasons: dict[str, int] = {}
    for row in rows:
        reasons[row.reason] = reasons.get(row.reason, 0) + 1
    invalid = sum(1 for r in rows if r.reason in ("unreadable", "missing_metadata", "nan_shifts",
                                                  "too_few_frames"))
    t = options.thresholds
    return {
        "motioncons": __version__,
        "parameters": {"min_corr": t.min_corr, "min_range_px": t.min_range,
                       "max_rmse_A": t.max_rmse_A, "max_error_A": t.max_error_A,
                       "fit": options.fit, "convention": options.convention,
                       "pixel_size_A": options.pixel_size},
        "inputs": inputs,
        "counts": {"paired": len(rows),
                   "accepted": sum(1 for r in rows if r.accepted),
                   "discarded": sum(1 for r in rows if not r.accepted),
                   "only_in_reference": len(only_in_reference),
                   "only_in_secondary": len(only_in_secondary),
                   "invalid": invalid,
                   "duplicates": len(duplicates)},
        "reasons": {code: reasons[code] for code in REASONS if code in reasons},
        "reason_meanings": {code: REASONS[code] for code in REASONS if code in reasons},
        "convention": estimate.as_dict() if estimate else None,
        "warnings": warnings,
        "only_in_reference": only_in_reference,
        "only_in_secondary": only_in_secondary,
        "duplicates": duplicates,
        "versions": versions(),
    }


def evaluate(reference: TrajectorySet, secondary: TrajectorySet, options: Options
             ) -> tuple[Matching, list[Row], ConventionEstimate | None, list[str]]:
    """Pair and decide, without writing anything."""
    options.validate()
    matching = pair_sets(reference, secondary)
    if not matching.pairs:
        raise MotionconsError(_no_pairs_message(reference, secondary))
    valid, invalid = split_pairs(matching.pairs, options)
    _check_magnitude_criteria(valid, options)
    estimate = None
    convention = "identity"
    batch = make_batch(valid)
    if options.fit != "xmipp":
        estimate = estimate_convention(batch, options.thresholds.min_range, options.convention)
        convention = estimate.name
    rows = sorted(decide(valid, options, convention, batch) + invalid, key=lambda r: r.movie)
    sources = pixel_size_sources(valid)
    warnings = [*(estimate.warnings if estimate else []), *_pixel_size_warnings(valid)]
    for dataset in (reference, secondary):
        warnings += dataset.notes
    if matching.only_in_reference or matching.only_in_secondary:
        warnings.append(f"{len(matching.only_in_reference)} movie(s) only in the reference, "
                        f"{len(matching.only_in_secondary)} only in the secondary "
                        f"(e.g. {_examples(matching)}); listed in summary.json")
    if matching.duplicates:
        warnings.append(f"{len(matching.duplicates)} duplicate movie key(s), first one used: "
                        f"{', '.join(matching.duplicates[:3])}")
    if set(sources) - {"file"}:
        warnings.append("pixel sizes: " + ", ".join(f"{n} from {k}" for k, n in sources.items())
                        + " (trajectories counted once per input)")
    return matching, rows, estimate, warnings


def _examples(matching: Matching) -> str:
    names = [*matching.only_in_reference[:2], *matching.only_in_secondary[:2]]
    return ", ".join(names)


def _no_pairs_message(reference: TrajectorySet, secondary: TrajectorySet) -> str:
    ref_keys = sorted(reference.keys())[:3]
    sec_keys = sorted(secondary.keys())[:3]
    return (f"no movie is present in both inputs ({reference.path}: {len(reference.keys())} "
            f"movies, e.g. {', '.join(ref_keys) or 'none'}; {secondary.path}: "
            f"{len(secondary.keys())} movies, e.g. {', '.join(sec_keys) or 'none'})")


def write_outputs(out_dir: Path, reference_format: str, table: object | None,
                  rows: list[Row], summary: dict[str, object],
                  figures: list[str] | None = None) -> list[str]:
    """Write every output atomically, then remove what an earlier pass wrote and this one did
    not; rows go out sorted by movie key in every mode."""
    ensure_directory(out_dir)
    rows = sorted(rows, key=lambda r: r.movie)
    write_csv(out_dir / "consensus.csv", rows)
    written = ["consensus.csv"]
    decided = {row.movie: row for row in rows}
    if isinstance(table, RelionMicrographTable) or (
            table is None and reference_format.startswith("relion")):
        movie_names = {row.movie: row.movie_name for row in rows if row.movie_name}
        written += write_relion_subsets(out_dir, table, decided, movie_names)
    elif isinstance(table, ScipionSet):
        written += write_scipion_lists(out_dir, table, decided)
    elif isinstance(table, CryosparcExposures):
        written += write_cryosparc_subsets(out_dir, table, decided)
    plots = {row.plot_path for row in rows if row.plot_path}
    if plots:
        written.append("plots/")
    summary["outputs"] = [*written, *(figures or []), "summary.json"]
    write_summary(out_dir / "summary.json", summary)
    OutputFolder(out_dir).remove_stale(summary["outputs"], plots)  # type: ignore[arg-type]
    return summary["outputs"]  # type: ignore[return-value]


def draw_overlays(out_dir: Path, rows: list[Row], choice: str, progress=None,
                  workers: int | None = None) -> int:
    """Render the wanted per-movie overlays and record their paths on the rows."""
    chosen = wanted(rows, choice)
    for row in chosen:
        row.plot_path = plot_name(row.movie)
    return render_overlays(chosen, out_dir, workers=workers, progress=progress)


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
                  summary: dict[str, object]) -> list[str]:
    """``summary.png`` and the self-contained ``report.html``."""
    save_summary(rows, summary, out_dir / "summary.png")
    write_report(out_dir / "report.html", sorted(rows, key=lambda r: r.movie), overlays, summary,
                 (out_dir / "summary.png").read_bytes())
    return ["summary.png", "report.html"]


def read_inputs(reference_path: str | Path, secondary_path: str | Path,
                options: Options) -> tuple[TrajectorySet, TrajectorySet, list[str]]:
    """Both inputs, re-keyed by ``--match-regex`` when given, and warnings about them."""
    warnings = []
    if os.path.abspath(reference_path) == os.path.abspath(secondary_path):
        warnings.append(f"the reference and the secondary are the same input ({reference_path}):"
                        " every movie will agree with itself")
    inputs = []
    for path in (reference_path, secondary_path):
        dataset = read_input(path, options.pixel_size,
                             cryosparc_project_dir=options.cryosparc_project_dir,
                             workers=options.workers)
        _require_readable(dataset)
        if options.match_regex:
            rekey(dataset, compile_match_regex(options.match_regex))
        inputs.append(dataset)
    return inputs[0], inputs[1], warnings


def run(reference_path: str | Path, secondary_path: str | Path, out_dir: str | Path,
        options: Options | None = None, progress=None, force: bool = False) -> RunResult:
    """Read both inputs, decide every pair, and write the outputs into `out_dir`.

    The folder is locked for the run; one holding another run's outputs is refused unless
    `force`, which replaces them.
    """
    options = options or Options()
    options.validate()
    with OutputFolder(out_dir) as folder:
        folder.claim("run", reference_path, secondary_path, force)
        return _run(reference_path, secondary_path, folder.path, options, progress)


def _run(reference_path: str | Path, secondary_path: str | Path, out: Path, options: Options,
         progress) -> RunResult:
    reference, secondary, input_warnings = read_inputs(reference_path, secondary_path, options)
    matching, rows, estimate, warnings = evaluate(reference, secondary, options)
    warnings = input_warnings + warnings
    summary = build_summary(input_summaries(reference, secondary), matching.only_in_reference,
                            matching.only_in_secondary, matching.duplicates, rows, options,
                            estimate, warnings)
    draw_overlays(out, rows, options.plots, progress, options.workers)
    figures = []
    if options.report:
        summary["outputs"] = []
        overlays = {r.movie: blob for r in rows if (blob := row_overlay(r)) is not None}
        figures = write_figures(out, rows, overlays, summary)
    outputs = write_outputs(out, reference.format, reference.micrograph_table, rows, summary,
                            figures)
    return RunResult(rows, summary, warnings, outputs)

"""Command line: argument parsing, progress and exit codes. No logic lives here.

Exit codes: 0 done; 1 the run cannot proceed (the message names the file and the problem);
2 the command line is wrong.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import allocator
from ._version import installed_version
from .consensus import CONVENTION_NAMES, FITS, Thresholds
from .errors import MotionconsError, UsageError
from .evaluation import PLOT_CHOICES, Options, parse_max_rmse
from .formats import read_input
from .pipeline import decide, run
from .records import RunResult, Summary
from .simulation.movies import MOVIE_FAILURES, MovieConfig, relion_movies_star, simulate_movie_files
from .simulation.trajectories import FAILURES, SimulationConfig, stream_simulation, write_simulation
from .streaming.watcher import WatchOptions


class _HelpFormatter(argparse.HelpFormatter):
    """Shows every option's default, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and \
                action.option_strings and "%(default)" not in text and \
                not isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
            text += " (default: %(default)s)"
        return text


class _SubParser(argparse.ArgumentParser):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(**kwargs)


def max_rmse_argument(value: str) -> float | str | None:
    """``--max-rmse`` for argparse: a number of Å, ``auto`` or ``none``."""
    try:
        return parse_max_rmse(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _optional_number(value: str) -> float | None:
    """A number, or ``none``/``off`` for a criterion that is switched off."""
    if value.strip().lower() in ("none", "off"):
        return None
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or none, not {value!r}") from None


def _optional_path(value: str) -> str | None:
    return None if value.strip().lower() in ("none", "off") else value


def _add_decision_options(parser: argparse.ArgumentParser, redecide: bool = False) -> None:
    """The thresholds: what ``decide`` can change without reading the inputs again. With
    `redecide`, an option not given keeps the value the output folder was last decided with."""
    thresholds = Thresholds()
    options = (
        (("--min-corr",), float, thresholds.min_corr, "C",
         "minimum consensus score (min of corr_x, corr_y over informative axes) to accept; -1 "
         "disables the criterion"),
        (("--min-range",), float, thresholds.min_range, "PX",
         "motion range (px) below which an axis is not informative; a movie moving less on "
         "every axis is accepted as low_motion"),
        (("--max-rmse",), max_rmse_argument, thresholds.max_rmse_A, "A|auto|none",
         "discard movies whose RMSE exceeds this many Å; auto calibrates the limit on the "
         "dataset (see docs/decisions.md), none switches it off"),
        (("--max-error",), _optional_number, None, "A",
         "also discard movies whose largest per-frame error exceeds this many Å"),
        (("--max-motion",), _optional_number, None, "A",
         "discard movies whose reference moved more than this many Å (accumulated over all "
         "frames)"),
        (("--max-early-motion",), _optional_number, None, "A",
         "discard movies whose reference moved more than this many Å over the first "
         "--early-frames frames"),
        (("--override",), _optional_path, None, "CSV",
         "manual decisions (CSV with columns movie,decision), applied last; none for none"),
    )
    for flags, kind, default, metavar, text in options:
        if redecide:
            parser.add_argument(*flags, type=kind, default=argparse.SUPPRESS, metavar=metavar,
                                help=text + " (default: as the folder was last decided)")
        else:
            parser.add_argument(*flags, type=kind, default=default, metavar=metavar,
                                help=text + ("" if default is not None else " (default: off)"))


def _add_consensus_options(parser: argparse.ArgumentParser) -> None:
    defaults = Options()
    parser.add_argument("-o", "--out", required=True, help="output folder")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("--force", action="store_true",
                        help="replace the outputs of another run in the output folder")
    _add_decision_options(parser)
    parser.add_argument("--early-frames", type=int, default=defaults.early_frames, metavar="N",
                        help="frames whose accumulated motion is the early motion")
    parser.add_argument("--fit", choices=FITS, default=defaults.fit,
                        help="how the secondary is mapped onto the reference")
    parser.add_argument("--convention", default=defaults.convention,
                        choices=("auto", *CONVENTION_NAMES),
                        help="dataset-level axis convention of the secondary; auto estimates it "
                             "from the movies that move")
    parser.add_argument("--pixel-size", type=float, default=defaults.pixel_size, metavar="A",
                        help="Å per unbinned movie pixel, for inputs that do not record it "
                             "(default: from the inputs)")
    parser.add_argument("--plots", choices=PLOT_CHOICES, default=defaults.plots,
                        help="per-movie trajectory overlays in OUT/plots/")
    parser.add_argument("--no-report", dest="report", action="store_false",
                        help="do not write summary.png and report.html")
    parser.add_argument("--match-regex", default=defaults.match_regex, metavar="RE",
                        help="pair movies by the first group (or whole match) of RE on their "
                             "file names (default: the built-in movie key)")
    parser.add_argument("--cryosparc-project-dir", default=defaults.cryosparc_project_dir,
                        metavar="DIR", help="cryoSPARC project directory the .cs paths are "
                                            "relative to (default: above the job directory)")
    parser.add_argument("-j", "--jobs", dest="workers", type=int, default=defaults.workers,
                        metavar="N", help="worker processes for reading and plotting "
                                          "(default: the cores, at most 8)")


class _Version(argparse.Action):
    """``--version``, read from the package metadata only when asked (its modules take 4 MB)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str = "show the version and exit"
                 ) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(f"motioncons {installed_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motioncons", formatter_class=_HelpFormatter,
        description="Compare two motion-correction results for the same movies and split the "
                    "movies into accepted and discarded sets.")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_SubParser)

    p_run = sub.add_parser("run", help="compare a finished reference and secondary result")
    p_run.add_argument("reference", help="reference result (its alignment is kept in outputs)")
    p_run.add_argument("secondary", help="secondary result")
    _add_consensus_options(p_run)

    p_watch = sub.add_parser("watch", help="decide movies as results arrive, until both inputs "
                                           "are closed")
    p_watch.add_argument("reference", help="reference result (its alignment is kept in outputs)")
    p_watch.add_argument("secondary", help="secondary result")
    _add_consensus_options(p_watch)
    watch = WatchOptions()
    p_watch.add_argument("--interval", type=float, default=watch.interval, metavar="S",
                         help="seconds between polls")
    p_watch.add_argument("--settle", type=float, default=watch.settle, metavar="S",
                         help="a result unreadable for this long is discarded as unreadable")
    p_watch.add_argument("--until-idle", type=float, default=watch.until_idle, metavar="S",
                         help="treat the inputs as closed after S seconds without new results "
                              "(default: wait for the inputs to close)")
    p_watch.add_argument("--stop-file", default=watch.stop_file, metavar="PATH",
                         help="treat the inputs as closed once this file exists (default: none)")
    p_watch.add_argument("--freeze-after", type=int, default=watch.freeze_after, metavar="N",
                         help="moving movies needed before the convention is frozen")

    p_decide = sub.add_parser("decide", help="decide a finished (or watched) output folder "
                                             "again with other thresholds, without reading the "
                                             "inputs")
    p_decide.add_argument("out", help="an output folder of motioncons run")
    p_decide.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p_decide.add_argument("-j", "--jobs", dest="workers", type=int, default=None, metavar="N",
                          help="worker processes for plotting (default: the cores, at most 8)")
    _add_decision_options(p_decide, redecide=True)

    sub.add_parser("relion-external", add_help=False,
                   help="run as a RELION External job (see docs/integrations.md)")

    p_inspect = sub.add_parser("inspect", help="say what a path contains")
    p_inspect.add_argument("path", help="a result file or folder of any supported format")
    p_inspect.add_argument("--pixel-size", type=float, default=None, metavar="A",
                           help="Å per unbinned movie pixel, for inputs that do not record it")
    p_inspect.add_argument("--cryosparc-project-dir", default=None, metavar="DIR",
                           help="cryoSPARC project directory the .cs paths are relative to")

    p_sim = sub.add_parser("simulate", help="write a synthetic pair of RELION motion results")
    p_sim.add_argument("out", help="project directory to create")
    _add_simulation_options(p_sim)

    p_movies = sub.add_parser("simulate-movies",
                              help="write synthetic movies (MRC) with known motion and a "
                                   "RELION movies.star, to test an aligner")
    p_movies.add_argument("out", help="folder to create")
    p_movies.add_argument("--movies", type=int, default=8, help="number of movies")
    p_movies.add_argument("--size", type=int, default=512, help="frame size (px)")
    p_movies.add_argument("--frames", type=int, default=24, help="frames per movie")
    p_movies.add_argument("--dose", type=float, default=1.0, help="e/Å² per frame")
    p_movies.add_argument("--pixel-size", type=float, default=1.0, help="Å per pixel")
    p_movies.add_argument("--seed", type=int, default=0, help="random seed")
    p_movies.add_argument("--failure", action="append", default=[], metavar="INDEX:MODE",
                          help=f"give movie INDEX a failure mode ({', '.join(MOVIE_FAILURES)}); "
                               "repeatable")

    p_demo = sub.add_parser("demo", help="simulate a dataset, run the consensus, print a summary")
    p_demo.add_argument("out", nargs="?", default="motioncons-demo",
                        help="folder for the simulated project and the results")
    p_demo.add_argument("--movies", type=int, default=300, help="number of movies")
    p_demo.add_argument("--seed", type=int, default=1, help="random seed")
    return parser


def _add_simulation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--movies", type=int, default=200, help="number of movies")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--min-frames", type=int, default=20, help="fewest frames per movie")
    parser.add_argument("--max-frames", type=int, default=80, help="most frames per movie")
    parser.add_argument("--failure-fraction", type=float, default=0.1,
                        help="fraction of movies whose secondary fails")
    parser.add_argument("--failures", default=",".join(FAILURES),
                        help=f"comma-separated failure modes to draw from ({','.join(FAILURES)})")
    parser.add_argument("--pixel-size", type=float, default=0.885, help="Å per pixel")
    parser.add_argument("--eer", action="store_true",
                        help="EER-like fractions: grouping 32 (reference) vs 25 (secondary)")
    parser.add_argument("--secondary-convention", default="identity", choices=CONVENTION_NAMES,
                        help="apply this axis convention to every secondary trajectory")
    parser.add_argument("--reference-first-frame", type=int, default=1,
                        help="RELION first_frame_sum of the reference (earlier frames -9999)")
    parser.add_argument("--stream", action="store_true",
                        help="write the results over time, as aligners do during a session")
    parser.add_argument("--rate", type=float, default=50.0,
                        help="--stream: reference results per second")
    parser.add_argument("--lag", type=float, default=2.0,
                        help="--stream: seconds the secondary lags behind")
    parser.add_argument("--extra-reference", type=float, default=0.0,
                        help="--stream: fraction of movies with no secondary result")
    parser.add_argument("--pieces", type=float, default=0.1,
                        help="--stream: fraction of files written in two parts")
    parser.add_argument("--table-every", type=int, default=25,
                        help="--stream: rewrite corrected_micrographs.star every N movies")


def _options(args: argparse.Namespace) -> Options:
    return Options(thresholds=Thresholds(args.min_corr, args.min_range, args.max_rmse,
                                         args.max_error, args.max_motion,
                                         args.max_early_motion),
                   fit=args.fit, convention=args.convention, pixel_size=args.pixel_size,
                   plots=args.plots, report=args.report, match_regex=args.match_regex,
                   cryosparc_project_dir=args.cryosparc_project_dir, workers=args.workers,
                   early_frames=args.early_frames, override=args.override)


def progress_bar(label: str, quiet: bool):
    """A one-line progress bar on a terminal; nothing when quiet or not a terminal."""
    if quiet or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        end = "\n" if done >= total else ""
        print(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end=end,
              file=sys.stderr, flush=True)

    return show


def format_summary(result: RunResult, out: Path, seconds: float) -> str:
    s = result.summary
    counts = s["counts"]
    params = s["parameters"]
    lines = [
        f"motioncons {installed_version()}: {counts['paired']} paired movies in "
        f"{seconds:.2f} s",
        f"  accepted   {counts['accepted']:>7}",
        f"  discarded  {counts['discarded']:>7}   (invalid input: {counts['invalid']})",
        f"  only in reference {counts['only_in_reference']}, only in secondary "
        f"{counts['only_in_secondary']}",
        "  reasons: " + ", ".join(f"{k} {v}" for k, v in s["reasons"].items()),
        f"  fit {params['fit']}, min-corr {params['min_corr']}, min-range "
        f"{params['min_range_px']} px, max-rmse {_max_rmse_text(s)}, max-error "
        f"{_limit(params['max_error_A'])}, max-motion {_limit(params['max_motion_A'])}",
    ]
    conv = s.get("convention")
    if conv:
        scale = f", scale {conv['scale']:.3f}" if conv["scale"] is not None else ""
        lines.append(f"  convention: {conv['applied']} ({conv['note']}{scale})")
    for warning in result.warnings:
        lines.append(f"  warning: {warning}")
    lines.append(f"  outputs in {out}/: {', '.join(result.outputs)}")
    return "\n".join(lines)


_OUTLIVING: list[object] | None = None
"""What the commands made, kept to the end of the process where `entry` ends it (else None)."""


def _outlive(result: object) -> None:
    if _OUTLIVING is not None:
        _OUTLIVING.append(result)


def cmd_run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    result = run(args.reference, args.secondary, args.out, _options(args),
                 progress=progress_bar("plots", args.quiet), force=args.force)
    _outlive(result)
    if not args.quiet:
        print(format_summary(result, Path(args.out), time.perf_counter() - start))
    return 0


def _limit(value: object) -> str:
    return "off" if value is None else f"{value:g} Å"


def _max_rmse_text(summary: Summary) -> str:
    """``auto = 1.05 px (0.93 Å): median ... `` or a fixed value, or off."""
    params, calibration = summary["parameters"], summary.get("max_rmse_calibration")
    if calibration:
        angstrom = (f" ({calibration['threshold_A']:.3g} Å)"
                    if calibration.get("threshold_A") is not None else "")
        return f"auto = {calibration['threshold_px']:.3g} px{angstrom}: {calibration['rule']}"
    return _limit(params["max_rmse_A"])


def cmd_decide(args: argparse.Namespace) -> int:
    changes = {name: getattr(args, name) for name in (
        "min_corr", "min_range", "max_rmse", "max_error", "max_motion", "max_early_motion",
        "override") if hasattr(args, name)}
    start = time.perf_counter()
    result = decide(args.out, changes, progress=progress_bar("plots", args.quiet),
                    workers=args.workers)
    _outlive(result)
    if not args.quiet:
        print(format_summary(result, Path(args.out), time.perf_counter() - start))
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from .streaming.watcher import Watcher

    watch = WatchOptions(interval=args.interval, settle=args.settle, until_idle=args.until_idle,
                         stop_file=args.stop_file, freeze_after=args.freeze_after)
    watcher = Watcher(args.reference, args.secondary, args.out, _options(args), watch,
                      force=args.force)
    start = time.perf_counter()

    said = {"waiting": ""}

    def progress(report) -> None:
        if args.quiet:
            return
        if report.decided or report.new_results:
            accepted, total = watcher.state.accepted_count(), watcher.state.count()
            print(f"[{time.perf_counter() - start:8.1f} s] {report.new_results} new result(s), "
                  f"{report.decided} decided; {total} in total: {accepted} accepted, "
                  f"{total - accepted} discarded", flush=True)
        if watcher.waiting and watcher.waiting != said["waiting"]:
            print(f"[{time.perf_counter() - start:8.1f} s] {watcher.waiting}", flush=True)
        said["waiting"] = watcher.waiting

    try:
        report = watcher.run(progress)
        rows = watcher.state.rows()
    finally:
        watcher.close()
    if not args.quiet:
        state = ("finished: both inputs closed" if report.finished
                 else "stopped; run again to resume")
        print(f"motioncons watch {state}; {len(rows)} movies decided "
              f"({sum(r.accepted for r in rows)} accepted); outputs in {args.out}/")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    dataset = read_input(args.path, args.pixel_size,
                         cryosparc_project_dir=args.cryosparc_project_dir)
    print(f"{dataset.path}: {dataset.format}")
    trajectories = dataset.trajectories
    print(f"  movies: {len(trajectories) + len(dataset.problems)} "
          f"({len(trajectories)} readable, {len(dataset.problems)} with problems)")
    if trajectories:
        frames = np.array([t.n_frames for t in trajectories])
        sizes = sorted({t.pixel_size for t in trajectories if t.pixel_size})
        ranges = np.array([np.ptp(t.shifts, axis=0).max() for t in trajectories])
        print(f"  frames per movie: min {frames.min()}, median {int(np.median(frames))}, "
              f"max {frames.max()}")
        print(f"  pixel size (Å): {', '.join(f'{p:g}' for p in sizes) or 'not recorded'}")
        print(f"  motion range (px): median {np.median(ranges):.2f}, max {ranges.max():.2f}")
        print(f"  example: {trajectories[0].key} <- {trajectories[0].source}")
    reasons: dict[str, int] = {}
    for problem in dataset.problems:
        reasons[problem.reason] = reasons.get(problem.reason, 0) + 1
    if reasons:
        print("  problems: " + ", ".join(f"{k} {v}" for k, v in reasons.items()))
        for problem in dataset.problems[:5]:
            print(f"    {problem.message}")
    for note in dataset.notes:
        print(f"  note: {note}")
    return 0


def _simulation_config(args: argparse.Namespace) -> SimulationConfig:
    failures = tuple(f for f in args.failures.split(",") if f)
    unknown = [f for f in failures if f not in FAILURES]
    if unknown:
        raise MotionconsError(f"unknown failure mode(s) {', '.join(unknown)}; choose from "
                              f"{', '.join(FAILURES)}")
    return SimulationConfig(movies=args.movies, seed=args.seed, min_frames=args.min_frames,
                            max_frames=args.max_frames, failure_fraction=args.failure_fraction,
                            failures=failures, pixel_size=args.pixel_size, eer=args.eer,
                            secondary_convention=args.secondary_convention,
                            reference_first_frame=args.reference_first_frame)


def cmd_simulate(args: argparse.Namespace) -> int:
    try:
        if args.stream:
            info = stream_simulation(args.out, _simulation_config(args), rate=args.rate,
                                     lag=args.lag, extra_reference=args.extra_reference,
                                     pieces=args.pieces, table_every=args.table_every,
                                     seed=args.seed)
            print(f"streamed {info['movies']} movies: reference {info['reference']}, secondary "
                  f"{info['secondary']} ({info['secondary_missing']} without a secondary)")
            return 0
        info = write_simulation(args.out, _simulation_config(args))
    except ValueError as exc:
        raise MotionconsError(str(exc)) from exc
    print(f"wrote {info['movies']} movies: reference {info['reference']}, secondary "
          f"{info['secondary']}, ground truth {info['ground_truth']}")
    print("  secondary failures: " + ", ".join(f"{k} {v}" for k, v in info["failures"].items()))
    return 0


def cmd_simulate_movies(args: argparse.Namespace) -> int:
    failures = {}
    for item in args.failure:
        index, _, mode = item.partition(":")
        if not index.isdigit() or mode not in MOVIE_FAILURES:
            raise MotionconsError(f"--failure {item!r}: expected INDEX:MODE with MODE one of "
                                  f"{', '.join(MOVIE_FAILURES)}")
        failures[int(index)] = mode
    config = MovieConfig(movies=args.movies, size=args.size, frames=args.frames, dose=args.dose,
                         pixel_size=args.pixel_size, seed=args.seed)
    start = time.perf_counter()
    movies = simulate_movie_files(args.out, config, failures)
    (Path(args.out) / "movies.star").write_text(relion_movies_star(movies, config))
    print(f"wrote {len(movies)} movies ({args.size}x{args.size}x{args.frames}) in "
          f"{time.perf_counter() - start:.1f} s: {args.out}/movies.star, "
          f"{args.out}/movies_truth.csv (RELION convention: the shift that re-aligns each frame)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    project = out / "project"
    info = write_simulation(project, SimulationConfig(movies=args.movies, seed=args.seed))
    print(f"simulated {info['movies']} movies in {project} (secondary failures: "
          + ", ".join(f"{k} {v}" for k, v in info["failures"].items() if k != "none") + ")")
    print(f"$ motioncons run {info['reference']} {info['secondary']} -o {out / 'consensus'}")
    start = time.perf_counter()
    result = run(info["reference"], info["secondary"], out / "consensus", Options())
    print(format_summary(result, out / "consensus", time.perf_counter() - start))
    truth = {line.split(",")[0]: line.split(",")[2]
             for line in (project / "ground_truth.csv").read_text().splitlines()[1:]}
    agree = sum(1 for row in result.rows if truth.get(row.movie_name) == row.decision)
    print(f"  against the simulator's ground truth: {agree} of {len(result.rows)} decisions "
          "match")
    print(f"  try other thresholds in seconds: motioncons decide {out / 'consensus'} --min-corr "
          f"0.9, or open {out / 'consensus' / 'report.html'}")
    return 0


COMMANDS = {"run": cmd_run, "decide": cmd_decide, "watch": cmd_watch, "inspect": cmd_inspect,
            "simulate": cmd_simulate, "simulate-movies": cmd_simulate_movies, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    allocator.tune()
    if argv[:1] == ["relion-external"]:
        from .integrations.relion_external import run_job

        return run_job(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"motioncons: error: {exc}", file=sys.stderr)
        return 2
    except MotionconsError as exc:
        print(f"motioncons: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader of our output went away (e.g. `| head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"motioncons: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("motioncons: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """`main` as the program: its exit status ends the process. Every output is written and
    closed when a command returns, so the process then ends without freeing what the command
    made one object at a time (50,000 movies: 0.07 s for the rows, as much again for the
    interpreter's own teardown); the exit handlers run and the standard streams are flushed,
    as at any exit."""
    global _OUTLIVING
    _OUTLIVING = []
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe, a closed stream
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()

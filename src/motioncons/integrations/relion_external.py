"""RELION External job: ``motioncons relion-external --o External/jobNNN/ --in_mics R --in_mics2 S``

RELION's contract (``shared/reference/anchors_ecosystem.md`` §3): the job runs from the project
directory; extra options arrive as ``--<label> <value>`` pairs; ``--j`` and
``--pipeline_control`` are always accepted; on success the job writes ``RELION_OUTPUT_NODES.star``
in the dialect of the project's RELION version and then ``RELION_JOB_EXIT_SUCCESS``; on failure
``RELION_JOB_EXIT_FAILURE`` with the reason in ``run.err``; ``RELION_JOB_ABORT_NOW`` aborts.

In a Scheme the job is re-run in ``continue`` mode in the same directory: every run is one pass
of the streaming engine over what exists now, so it only decides new movies, is idempotent, and
succeeds when there is nothing new.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from ..cli import max_rmse_argument
from ..consensus import CONVENTION_NAMES, FITS, Thresholds
from ..errors import MotionconsError
from ..evaluation import PLOT_CHOICES, Options
from ..figures.plots import save_summary
from ..outputs.atomic import write_text
from ..outputs.folder import OutputFolder
from ..streaming.watcher import Watcher, WatchOptions

EXTERNAL_SETTLE = 300.0
"""Seconds an unreadable result is retried across passes (a Scheme pass is short)."""
SUCCESS = "RELION_JOB_EXIT_SUCCESS"
FAILURE = "RELION_JOB_EXIT_FAILURE"
ABORTED = "RELION_JOB_EXIT_ABORTED"
ABORT_NOW = "RELION_JOB_ABORT_NOW"
NODES = "RELION_OUTPUT_NODES.star"
OUTPUT_FILES = ("accepted_micrographs.star", "discarded_micrographs.star")
LOGFILE = "logfile.pdf"

# Node type of a micrographs STAR per RELION release (pipeline_jobs.h at each tag).
_NODE_TYPES = {"3.1": "1", "4.0": "MicrographsData.star.relion",
               "5.0": "MicrographGroupMetadata.star.relion"}
_LOG_TYPES = {"3.1": "13", "4.0": "LogFile.pdf.relion", "5.0": "LogFile.pdf.relion"}


class Aborted(Exception):
    pass


class _ArgumentError(Exception):
    """The command line RELION gave cannot be used (raised instead of argparse's exit)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _ArgumentError(f"{self.prog}: {message}")


def relion_version(project: Path) -> str:
    """``3.1``, ``4.0`` or ``5.0`` from the project's ``default_pipeline.star`` (5.0 if absent)."""
    path = project / "default_pipeline.star"
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "5.0"
    if "# version 50001" in text:
        return "5.0"
    if "_rlnPipeLineNodeTypeLabel" in text:
        return "4.0"
    return "3.1"


def output_nodes(job_dir: str, version: str, logfile: bool = False) -> str:
    base = job_dir.rstrip("/")
    nodes = [(f"{base}/{name}", _NODE_TYPES[version]) for name in OUTPUT_FILES]
    if logfile:
        nodes.append((f"{base}/{LOGFILE}", _LOG_TYPES[version]))
    if version == "3.1":
        header = "data_output_nodes\nloop_\n_rlnPipeLineNodeName #1\n_rlnPipeLineNodeType #2\n"
        return header + "".join(f"{n} {t}\n" for n, t in nodes)
    if version == "4.0":
        header = ("# version 30001\n\ndata_output_nodes\n\nloop_\n_rlnPipeLineNodeName #1\n"
                  "_rlnPipeLineNodeTypeLabel #2\n")
        return header + "".join(f"{n} {t}\n" for n, t in nodes) + "\n"
    header = ("# version 50001\n\ndata_output_nodes\n\nloop_\n_rlnPipeLineNodeName #1\n"
              "_rlnPipeLineNodeTypeLabel #2\n_rlnPipeLineNodeTypeLabelDepth #3\n")
    return header + "".join(f"{n} {t} 1\n" for n, t in nodes) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="motioncons relion-external",
        description="Movie alignment consensus as a RELION External job.")
    parser.add_argument("--o", required=True, help="the job directory, e.g. External/job012/")
    parser.add_argument("--in_mics", required=True,
                        help="reference corrected_micrographs.star (its alignment is kept)")
    parser.add_argument("--in_mics2", required=True,
                        help="secondary corrected_micrographs.star (give it as a parameter: "
                             "label in_mics2)")
    options, thresholds, watch = Options(), Thresholds(), WatchOptions()
    for name, kind, default in (("min_corr", float, thresholds.min_corr),
                                ("min_range", float, thresholds.min_range),
                                ("max_rmse", max_rmse_argument, thresholds.max_rmse_A),
                                ("max_error", float, thresholds.max_error_A),
                                ("max_motion", float, thresholds.max_motion_A),
                                ("max_early_motion", float, thresholds.max_early_motion_A),
                                ("early_frames", int, options.early_frames),
                                ("override", str, options.override),
                                ("pixel_size", float, options.pixel_size),
                                ("settle", float, EXTERNAL_SETTLE),
                                ("freeze_after", int, watch.freeze_after)):
        spellings = dict.fromkeys((f"--{name}", f"--{name.replace('_', '-')}"))
        parser.add_argument(*spellings, type=kind, default=default, dest=name,
                            help=f"as motioncons run --{name.replace('_', '-')} "
                                 f"(default: {'off' if default is None else default})")
    for name, choices, default in (("fit", FITS, options.fit),
                                   ("plots", PLOT_CHOICES, options.plots),
                                   ("convention", ("auto", *CONVENTION_NAMES),
                                    options.convention)):
        parser.add_argument(f"--{name}", choices=choices, default=default,
                            help=f"as motioncons run --{name} (default: {default})")
    parser.add_argument("--j", type=int, default=1,
                        help="worker processes (RELION's number of threads; default: 1)")
    parser.add_argument("--pipeline_control", default=None,
                        help="accepted and ignored (RELION passes it; default: none)")
    return parser


def _stderr_is(path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(sys.stderr.fileno()), os.stat(path))
    except (OSError, ValueError, AttributeError):
        return False


def _job_directory(argv: list[str]) -> Path | None:
    """``--o`` from a command line that may not parse, so that a failure can still be marked."""
    for i, word in enumerate(argv):
        if word == "--o" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if word.startswith("--o="):
            return Path(word[4:])
    return None


def _fail(job: Path | None, message: str) -> int:
    """RELION sees the job fail (not "running" for ever), with the reason in ``run.err``."""
    message = f"motioncons: error: {message}"
    print(message, file=sys.stderr)
    if job is not None:
        try:
            job.mkdir(parents=True, exist_ok=True)
            if not _stderr_is(job / "run.err"):
                with open(job / "run.err", "a") as handle:
                    handle.write(message + "\n")
            (job / FAILURE).touch()
        except OSError as exc:
            print(f"motioncons: error: {job}: cannot mark the job as failed: "
                  f"{exc.strerror or exc}", file=sys.stderr)
    return 1


def run_job(argv: list[str]) -> int:
    if any(word in ("-h", "--help") for word in argv):
        build_parser().print_help()
        return 0
    try:
        args = build_parser().parse_args(argv)
    except _ArgumentError as exc:
        return _fail(_job_directory(argv), str(exc))
    job = Path(args.o)
    try:
        folder = OutputFolder(job).lock()
    except MotionconsError as exc:
        # Another pass holds this job: its markers are its own; this one leaves them alone.
        print(f"motioncons: error: {exc}", file=sys.stderr)
        return 1
    try:
        return _run_pass(args, job, folder)
    finally:
        folder.unlock()


def _run_pass(args: argparse.Namespace, job: Path, folder: OutputFolder) -> int:
    try:
        for marker in (SUCCESS, FAILURE, ABORTED):
            (job / marker).unlink(missing_ok=True)
    except OSError as exc:
        return _fail(None, f"{job}: {exc.strerror or exc}")

    def check_abort() -> None:
        if (job / ABORT_NOW).exists():
            raise Aborted

    try:
        check_abort()
        options = Options(thresholds=Thresholds(args.min_corr, args.min_range, args.max_rmse,
                                                args.max_error, args.max_motion,
                                                args.max_early_motion),
                          fit=args.fit, convention=args.convention, pixel_size=args.pixel_size,
                          plots=args.plots, workers=args.j, early_frames=args.early_frames,
                          override=args.override)
        watcher = Watcher(args.in_mics, args.in_mics2, job, options,
                          WatchOptions(interval=0.0, settle=args.settle,
                                       freeze_after=args.freeze_after), folder=folder)
        try:
            report = watcher.poll()
            decided = report.decided
            if report.new_results and not report.finished:
                # Finishing needs a poll that finds nothing new: closed inputs end in one run.
                report = watcher.poll()
                decided += report.decided
            check_abort()
            rows = watcher.state.count()
            decided_rows = watcher.state.rows()
            accepted = sum(1 for row in decided_rows if row.accepted)
            if decided_rows:
                save_summary(decided_rows, watcher.summary(decided_rows), job / LOGFILE)
        finally:
            watcher.close()
        for name in OUTPUT_FILES:
            if not (job / name).exists():
                raise MotionconsError(f"{args.in_mics}: no reference micrographs table to subset "
                                      f"yet, so {name} cannot be written")
        version = relion_version(Path.cwd())
        write_text(job / NODES, output_nodes(args.o, version, (job / LOGFILE).exists()))
        print(f"motioncons: {decided} new decision(s); {rows} in total: {accepted} accepted, "
              f"{rows - accepted} discarded; "
              f"{'inputs closed' if report.finished else 'inputs still open'}; "
              f"RELION {version} output nodes written", flush=True)
        check_abort()
        (job / SUCCESS).touch()
        return 0
    except Aborted:
        (job / ABORT_NOW).unlink(missing_ok=True)
        (job / ABORTED).touch()
        print("motioncons: aborted on request (RELION_JOB_ABORT_NOW)", file=sys.stderr)
        return 1
    except MotionconsError as exc:
        return _fail(job, str(exc))
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(job, f"{where}{exc.strerror or exc}")
    except Exception as exc:  # RELION must always see the job end
        return _fail(job, f"unexpected {type(exc).__name__}: {exc} (please report this)")


def main() -> None:
    sys.exit(run_job(sys.argv[1:]))

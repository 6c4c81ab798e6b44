"""Two versions of motioncons alternated on the same data: whether a change made a run faster.

    python benchmarks/bench_compare.py BASE [--movies 50000] [--repeat 3] [--modes core default]

This shared machine's speed drifts by a third from one hour to the next, so the absolute times
of two sessions' benchmarks say little about what changed in between. Here the code at BASE (a
git revision, checked out in a temporary worktree) and the working tree's code run one after
the other (each first in every other repetition), ``--repeat`` times for each mode, on
bench_scale.py's simulated RELION jobs, each run a fresh ``motioncons run`` process into a new
output folder (removed at the end):

- core: ``--plots none --no-report``;
- default: overlays of the discarded movies, ``summary.png`` and ``report.html``.

For each mode and version it prints the fastest and the median wall time, the CPU time of every
process of the run (the least and the median) and the peak RSS, and then the working tree's
times over BASE's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from bench_scale import RUNS, Run, child_run, dataset, new_folder
from scratch import scratch

ROOT = Path(__file__).resolve().parent.parent
MODES = {"core": ("none", False), "default": ("discarded", True)}


def _worktree(revision: str, folder: Path) -> Path:
    """The code at `revision`, with its compiled modules built in place where it has any (a
    clean checkout has none, and would read with their slower fallbacks)."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet",
                    str(folder), revision], check=True)
    for source in (folder / "src").rglob("*.c"):  # with the flags setuptools builds with
        subprocess.run([*sysconfig.get_config_var("CC").split(),
                        *sysconfig.get_config_var("CFLAGS").split(),
                        *sysconfig.get_config_var("CCSHARED").split(), "-shared",
                        "-I" + sysconfig.get_paths()["include"], str(source), "-o",
                        str(source.with_suffix(sysconfig.get_config_var("EXT_SUFFIX")))],
                       check=True, capture_output=True)
    return folder / "src"


_COMPILED = """
try:
    from motioncons.formats.compiled import MODULE
except ImportError:  # versions before formats.compiled
    try:
        from motioncons.formats.fixed_columns import COMPILED as MODULE
    except ImportError:  # versions with no compiled reader
        MODULE = None
print(MODULE is not None)
"""


def _compiled(source: Path) -> bool:
    """Whether the code in `source` reads RELION's files with a compiled reader."""
    found = subprocess.run([sys.executable, "-c", _COMPILED],
                           env={**os.environ, "PYTHONPATH": str(source)}, capture_output=True,
                           text=True, check=True)
    return found.stdout.strip() == "True"


def _line(mode: str, name: str, runs: list[Run]) -> str:
    walls, cpus = [r.seconds for r in runs], [r.cpu_seconds for r in runs]
    return (f"{mode:8} {name:12} {min(walls):7.2f} s {statistics.median(walls):7.2f} s"
            f" {min(cpus):7.1f} s {statistics.median(cpus):7.1f} s"
            f" {max(r.peak_mb for r in runs):6.0f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the git revision to compare the working tree's code with")
    parser.add_argument("--movies", type=int, default=50000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=sorted(MODES), default=["core", "default"])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    with scratch(args.workdir, "motioncons-bench-compare-") as workdir, \
            tempfile.TemporaryDirectory(prefix="motioncons-base-") as checkout:
        base = _worktree(args.base, Path(checkout) / "tree")
        try:
            jobs = dataset(workdir, args.movies)
            versions = {args.base[:12]: base, "working tree": ROOT / "src"}
            runs: dict[tuple[str, str], list[Run]] = {}
            for repetition in range(args.repeat):
                # Each version first in every other repetition: a run that follows another
                # (its files just written, its caches warm) is not always the same version.
                order = list(versions.items())[:: 1 if repetition % 2 == 0 else -1]
                for mode in args.modes:
                    for name, source in order:
                        out = new_folder(workdir, f"compare_{mode}")
                        runs.setdefault((mode, name), []).append(
                            child_run(jobs, out, *MODES[mode], source=source))
            print(f"{args.movies:,} movies, {args.repeat} alternated runs of each; compiled "
                  "row reader: " + ", ".join(f"{name} {'yes' if _compiled(source) else 'no'}"
                                             for name, source in versions.items()) + "\n")
            print(f"{'mode':8} {'version':12} {'fastest':>9} {'median':>9} {'least CPU':>9}"
                  f" {'median CPU':>10} {'peak':>8}")
            for mode in args.modes:
                for name in versions:
                    print(_line(mode, name, runs[(mode, name)]))
            print()
            for mode in args.modes:
                old, new = runs[(mode, args.base[:12])], runs[(mode, "working tree")]
                wall = min(r.seconds for r in new) / min(r.seconds for r in old)
                cpu = min(r.cpu_seconds for r in new) / min(r.cpu_seconds for r in old)
                print(f"{mode}: the working tree's fastest run {wall:.2f}x BASE's, its least CPU "
                      f"time {cpu:.2f}x")
        finally:
            shutil.rmtree(workdir / RUNS, ignore_errors=True)
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(Path(checkout) / "tree")], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

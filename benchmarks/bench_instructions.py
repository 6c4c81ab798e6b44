"""Instructions per item of the hot paths, counted by valgrind's callgrind: the same count on
every run, whatever else the machine is doing (wall-clock times on a shared machine drift by a
third from one minute to the next). For comparing two versions of the code, step by step.

    python benchmarks/bench_instructions.py [--files 1000] [--pairs 10000] [--figures 100]

(about 4 minutes: callgrind runs Python some 50 times slower).

Each workload runs twice in a child process under callgrind, once with its data set up only and
once doing the work too; the difference, divided by the items, is what the work costs. Each has
its baseline in the same run:

1. reading per-movie RELION STAR files: the bulk reader (one process, chunks of 2,000) against
   the full gemmi parser, file by file;
2. deciding: the convention vote and the metrics of a batch of pairs, vectorised, against the
   same metrics one pair at a time;
3. drawing overlays (no baseline: the figure as it is).

Instructions run in the kernel (reading files, page faults) are not counted. Needs valgrind.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from scratch import scratch

_SETUP = {
    "read": """
import glob
from motioncons.formats import relion_batch, relion_movie
files = sorted(glob.glob(sys.argv[2] + "/MotionCorr/job002/Movies/*.star"))[:int(sys.argv[3])]
jobs = [(path, None) for path in files]
relion_batch.read_chunk(jobs[:20])
relion_movie.read_movie_star(files[0])
""",
    "decide": """
import numpy as np
from motioncons.consensus import Batch, Thresholds, compare, estimate_convention
from motioncons.simulation.trajectories import SimulationConfig, simulate_movies
movies = simulate_movies(SimulationConfig(movies=500, seed=11, min_frames=40, max_frames=40))
count = int(sys.argv[3])
refs = [movies[i % 500].reference for i in range(count)]
secs = [movies[i % 500].secondary for i in range(count)]
batch = Batch.from_samples(refs, secs, [1.0] * count)
singles = [Batch.from_samples([r], [s], [1.0]) for r, s in zip(refs[:count // 20], secs)]
compare(singles[0], Thresholds())
""",
    "draw": """
import shutil
from pathlib import Path
from motioncons.figures import plots
from motioncons.pipeline import Options, compare_inputs, _with_plot_paths
comparison, decision = compare_inputs(sys.argv[2] + "/MotionCorr/job002",
                                      sys.argv[2] + "/MotionCorr/job003", Options(), {})
rows = _with_plot_paths(decision.rows, "all")[:int(sys.argv[3]) + 20]
out = Path(sys.argv[4])
(out / "plots").mkdir(parents=True, exist_ok=True)
plots._draw_chunk((str(out), rows[:20]))
""",
}
_WORK = {  # each work: its code, and the share of the workload's items it does
    "read": {"bulk reader": ("[relion_batch.read_chunk(jobs[i:i + 2000]) "
                             "for i in range(0, len(jobs), 2000)]", 1),
             "full parser": ("[relion_movie.read_movie_star(path) for path in files]", 1)},
    "decide": {"vectorised": ("compare(batch, Thresholds(), 'offset', "
                              "estimate_convention(batch, 3.0).name)", 1),
               "one pair at a time": ("[compare(single, Thresholds()) for single in singles]",
                                      1 / 20)},
    "draw": {"overlays": ("plots._draw_chunk((str(out), rows[20:]))", 1)},
}


def instructions(workload: str, work: str | None, data: Path, count: int, out: Path) -> int:
    """Instructions callgrind counts in a child that sets `workload` up and runs `work`."""
    code = "import sys\n" + _SETUP[workload] + (work or "")
    with tempfile.TemporaryDirectory(prefix="motioncons-callgrind-") as folder:
        result = Path(folder) / "callgrind.out"
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={result}",
                        sys.executable, "-c", code, workload, str(data), str(count), str(out)],
                       check=True, capture_output=True)
        summary = re.search(r"^summary: (\d+)", result.read_text(), re.MULTILINE)
        if summary is None:
            raise RuntimeError(f"callgrind wrote no summary for {workload}")
        return int(summary.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=10000)
    parser.add_argument("--figures", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 1
    from bench_scale import dataset

    with scratch(args.workdir, "motioncons-bench-instructions-") as workdir:
        data = Path(dataset(workdir, max(args.files, args.figures, 1000))["reference"]).parents[1]
        counts = {"read": args.files, "decide": args.pairs, "draw": args.figures}
        units = {"read": "file", "decide": "pair", "draw": "figure"}
        out = workdir / "instructions_out"
        print(f"python {sys.version.split()[0]}, instructions counted by callgrind\n")
        for workload, works in _WORK.items():
            count = counts[workload]
            base = instructions(workload, None, data, count, out)
            per_item = {}
            for label, (work, share) in works.items():
                done = instructions(workload, work, data, count, out)
                per_item[label] = (done - base) / int(count * share)
            line = "   ".join(f"{label} {value / 1e3:,.0f} k" for label, value in per_item.items())
            print(f"{workload:<7} per {units[workload]}: {line}")
            if len(per_item) == 2:
                first, second = per_item.values()
                print(f"{'':<7} ratio {second / first:.1f}x")
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

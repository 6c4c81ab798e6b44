"""Where a core run's time and memory go: each step of ``motioncons run --plots none
--no-report``, timed in this process, with the resident memory after it and the peak so far.

    python benchmarks/bench_phases.py [--movies 50000] [--workdir /tmp/scale] [--runs 2]

The data are bench_scale.py's simulated RELION jobs (written once into the work directory).
Each run happens in a fresh child process, so that its peak is its own.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from bench_scale import dataset
from scratch import scratch

_CHILD = """
import gc, os, resource, sys, time
from pathlib import Path
from motioncons.evaluation import decide_comparison, prepare
from motioncons.pipeline import (Options, _save_comparison, paused_gc, read_inputs,
                                 write_decision)
from motioncons.workers import alongside
from motioncons import allocator

allocator.tune()  # as the command line does

def rss():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

options = Options(plots="none", report=False)
out = Path(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
with paused_gc():
    steps = []
    start = time.perf_counter()
    reference, secondary, notes = read_inputs(sys.argv[1], sys.argv[2], options)
    steps.append(("reading", time.perf_counter() - start, rss(), peak()))
    start = time.perf_counter()
    # as pipeline.run does: the inputs' trajectories handed over to pairing
    comparison = prepare(reference, secondary, options, notes, release_inputs=True)
    del reference, secondary
    steps.append(("pairing", time.perf_counter() - start, rss(), peak()))
    start = time.perf_counter()
    # as pipeline.run does: the npz written alongside, the samples released
    with alongside(lambda: _save_comparison(out, comparison, options), os.cpu_count() > 1):
        decision = decide_comparison(comparison, options, {}, release_samples=True)
    steps.append(("deciding", time.perf_counter() - start, rss(), peak()))
    start = time.perf_counter()
    write_decision(out, comparison, decision, options)
    steps.append(("writing", time.perf_counter() - start, rss(), peak()))
for name, seconds, resident, highest in steps:
    print(name, seconds, resident, highest)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=50000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    with scratch(args.workdir, "motioncons-bench-phases-") as workdir:
        jobs = dataset(workdir, args.movies)
        print(f"{args.movies:,} movies, one process (reading uses its worker processes)\n")
        print(f"{'run':>3} {'step':<9} {'seconds':>8} {'RSS after':>10} {'peak so far':>12}")
        for run in range(1, args.runs + 1):
            result = subprocess.run([sys.executable, "-c", _CHILD, jobs["reference"],
                                     jobs["secondary"], str(workdir / "phases_out")],
                                    check=True, capture_output=True, text=True)
            total = 0.0
            for line in result.stdout.split("\n"):
                if not line.strip():
                    continue
                name, seconds, resident, highest = line.split()
                total += float(seconds)
                print(f"{run:>3} {name:<9} {float(seconds):>7.2f}s {float(resident):>8.0f}MB "
                      f"{float(highest):>10.0f}MB")
            print(f"{run:>3} {'total':<9} {total:>7.2f}s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

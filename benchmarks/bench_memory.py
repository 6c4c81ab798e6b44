"""What a core run's memory holds, per movie: the allocation sites that own the most bytes after
reading both inputs and after pairing them, with `tracemalloc` (Python's own allocations, the
numpy arrays included; not the allocator's fragmentation).

    python benchmarks/bench_memory.py [--movies 10000] [--workdir /tmp/scale] [--top 12]

The data are bench_scale.py's simulated RELION jobs (written once into the work directory). The
baseline is the memory traced before reading, in the same process. The peak of a large run is
what these sites hold (bench_phases.py gives the resident memory of each step).
"""

from __future__ import annotations

import argparse
import tracemalloc
from pathlib import Path

from bench_scale import dataset
from motioncons import allocator
from motioncons.evaluation import Options, prepare
from motioncons.pipeline import paused_gc, read_inputs
from scratch import scratch


def _report(stage: str, snapshot: tracemalloc.Snapshot, baseline: tracemalloc.Snapshot,
            movies: int, top: int) -> None:
    stats = snapshot.compare_to(baseline, "lineno")
    total = sum(stat.size_diff for stat in stats)
    print(f"{stage}: {total / 2**20:.1f} MiB traced beyond the baseline, "
          f"{total / movies:,.0f} bytes a movie")
    for stat in stats[:top]:
        frame = stat.traceback[0]
        place = f"{Path(frame.filename).name}:{frame.lineno}"
        print(f"  {stat.size_diff / movies:7,.0f} B  {stat.count_diff / movies:5.2f} objects  "
              f"{place}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=10000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    with scratch(args.workdir, "motioncons-bench-memory-") as workdir:
        jobs = dataset(workdir, args.movies)
        allocator.tune()  # as the command line does
        options = Options(plots="none", report=False)
        print(f"{args.movies:,} movies, a core run's data (per movie: per pair of results)\n")
        tracemalloc.start()
        baseline = tracemalloc.take_snapshot()
        with paused_gc():
            reference, secondary, notes = read_inputs(jobs["reference"], jobs["secondary"],
                                                      options)
            _report("after reading", tracemalloc.take_snapshot(), baseline, args.movies,
                    args.top)
            comparison = prepare(reference, secondary, options, notes, release_inputs=True)
            del reference, secondary
            _report("\nafter pairing, the inputs freed", tracemalloc.take_snapshot(), baseline,
                    args.movies, args.top)
        tracemalloc.stop()
        del comparison
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Throughput of the core against baselines run in the same process (DESIGN §7 budgets).

    python benchmarks/bench_core.py [--movies 50000] [--pairs 100000] [--workdir DIR]

1. Parsing RELION per-movie STAR files (files/s): motioncons' reader against a `starfile`
   (pandas-based) reader and a plain ``read_bytes``, on the same simulated files.
2. Consensus maths (pairs/s): the vectorised batch against the same metrics computed one pair
   at a time, and the per-movie xmipp reproduction.
3. ``motioncons run`` end to end on `--movies` simulated pairs written in RELION's layout.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from motioncons.consensus import Batch, Thresholds, compare
from motioncons.formats import compiled
from motioncons.formats.relion import read_movie_star
from motioncons.formats.relion_batch import read_movie_stars
from motioncons.pipeline import Options, run
from motioncons.simulation.trajectories import SimulationConfig, simulate_movies, write_simulation
from scratch import scratch

CHUNK = 8192


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def bench_parse(job_dir: Path, limit: int, baseline_limit: int) -> None:
    files = sorted((job_dir / "Movies").glob("*.star"))[:limit]
    start = time.perf_counter()
    for f in files:
        f.read_bytes()
    raw = _rate(len(files), time.perf_counter() - start)
    start = time.perf_counter()
    for f in files:
        read_movie_star(f)
    ours = _rate(len(files), time.perf_counter() - start)
    try:
        import starfile
    except ImportError:
        starfile = None
    bulk = {name: _bulk_rate(files, use) for name, use in (("compiled", True),
                                                           ("in Python", False))}
    print(f"parse per-movie STAR ({len(files)} files, 1 core)")
    print(f"  raw read_bytes         {raw:>10,.0f} files/s")
    print(f"  motioncons (gemmi)     {ours:>10,.0f} files/s   budget >= 15,000 (one file at a "
          "time, the full parser)")
    for name, rate in bulk.items():
        if rate is not None:
            print(f"  motioncons bulk        {rate:>10,.0f} files/s   ({name}: a job's files at "
                  f"once, as a run reads them; {rate / raw:.2f}x the raw read)")
    if starfile is not None:
        subset = files[:baseline_limit]
        start = time.perf_counter()
        for f in subset:
            blocks = starfile.read(f, always_dict=True)
            blocks["global_shift"][["rlnMicrographShiftX", "rlnMicrographShiftY"]].to_numpy()
        baseline = _rate(len(subset), time.perf_counter() - start)
        print(f"  starfile (pandas)      {baseline:>10,.0f} files/s   ({len(subset)} files)")
        print(f"  ratio motioncons / starfile: {ours / baseline:,.0f}x")


def _bulk_rate(files: list[Path], use_compiled: bool) -> float | None:
    """Files a second through the bulk reader in this process, with its compiled part or
    without; None when asked for a compiled part that was not built."""
    saved = compiled.MODULE
    if use_compiled and saved is None:
        return None
    compiled.MODULE = saved if use_compiled else None
    try:
        jobs = [(str(f), None) for f in files]
        read_movie_stars(jobs[:2000], workers=1)  # a session's layout learned, as in a run
        start = time.perf_counter()
        read_movie_stars(jobs, workers=1)
        return _rate(len(files), time.perf_counter() - start)
    finally:
        compiled.MODULE = saved


def bench_consensus(pairs: int, loop_pairs: int) -> None:
    movies = simulate_movies(SimulationConfig(movies=2000, seed=11, min_frames=40, max_frames=40))
    refs = [m.reference for m in movies]
    secs = [m.secondary for m in movies]
    repeat = int(np.ceil(pairs / len(refs)))
    big = Batch.from_samples(refs * repeat, secs * repeat, [1.0] * len(refs) * repeat)
    big = big.select(np.arange(pairs))
    thresholds = Thresholds()
    print(f"consensus maths (40 frames per pair, chunks of {CHUNK})")
    for fit in ("offset", "rigid"):
        start = time.perf_counter()
        for lo in range(0, pairs, CHUNK):
            compare(big.select(np.arange(lo, min(lo + CHUNK, pairs))), thresholds, fit)
        batched = _rate(pairs, time.perf_counter() - start)
        singles = [Batch.from_samples([refs[i]], [secs[i]], [1.0]) for i in range(loop_pairs)]
        start = time.perf_counter()
        for single in singles:
            compare(single, thresholds, fit)
        looped = _rate(loop_pairs, time.perf_counter() - start)
        print(f"  {fit:<7} vectorised {batched:>10,.0f} pairs/s   per-pair loop {looped:>8,.0f} "
              f"pairs/s   ratio {batched / looped:,.0f}x   budget >= 200,000")
    sub = big.select(np.arange(loop_pairs))
    start = time.perf_counter()
    compare(sub, thresholds, "xmipp")
    print(f"  xmipp   per-movie  {_rate(loop_pairs, time.perf_counter() - start):>10,.0f} pairs/s"
          "   (the original's arithmetic, one SVD per movie)")


def bench_end_to_end(movies: int, workdir: Path) -> None:
    project = workdir / "project"
    start = time.perf_counter()
    info = write_simulation(project, SimulationConfig(movies=movies, seed=12))
    written = time.perf_counter() - start
    start = time.perf_counter()
    result = run(info["reference"], info["secondary"], workdir / "out",
                 Options(plots="none", report=False))
    seconds = time.perf_counter() - start
    counts = result.summary["counts"]
    print(f"end to end: motioncons run on {movies:,} RELION pairs ({2 * movies:,} per-movie STAR "
          f"files; simulating them took {written:.1f} s)")
    print(f"  --plots none --no-report: {seconds:.2f} s  = {_rate(movies, seconds):,.0f} pairs/s"
          f"   budget < 10 s for 50,000   (accepted {counts['accepted']}, discarded "
          f"{counts['discarded']})")
    bench_decide(workdir / "out", seconds)
    start = time.perf_counter()
    run(info["reference"], info["secondary"], workdir / "out_default", Options())
    print(f"  defaults (overlays of the {counts['discarded']} discarded movies, summary.png, "
          f"report.html): {time.perf_counter() - start:.2f} s")


def bench_decide(out: Path, run_seconds: float) -> None:
    """``motioncons decide`` on the output just written, with another threshold: its parts."""
    from motioncons.evaluation import decide_comparison
    from motioncons.outputs import comparison_file
    from motioncons.pipeline import options_from, write_decision

    start = time.perf_counter()
    comparison, stored = comparison_file.load(out)
    loaded = time.perf_counter()
    options = options_from({**stored, "min_corr": 0.9})
    decision = decide_comparison(comparison, options)
    decided = time.perf_counter()
    write_decision(out, comparison, decision, options)
    written = time.perf_counter()
    total = written - start
    size = (out / comparison_file.FILE).stat().st_size / 1e6
    print(f"  decide --min-corr 0.9 (no input read): {total:.2f} s = "
          f"{total / run_seconds:.0%} of the run: load {loaded - start:.2f} s "
          f"({size:.0f} MB of consensus data), decide {decided - loaded:.2f} s, write outputs "
          f"{written - decided:.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=50000)
    parser.add_argument("--pairs", type=int, default=100000)
    parser.add_argument("--loop-pairs", type=int, default=2000)
    parser.add_argument("--parse-files", type=int, default=20000)
    parser.add_argument("--baseline-files", type=int, default=300)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    with scratch(args.workdir, "motioncons-bench-") as workdir:
        print(f"python {sys.version.split()[0]}, numpy {np.__version__}, workdir {workdir}\n")
        bench_consensus(args.pairs, args.loop_pairs)
        print()
        bench_end_to_end(args.movies, workdir)
        print()
        bench_parse(workdir / "project" / "MotionCorr" / "job002", args.parse_files,
                    args.baseline_files)
    return 0


if __name__ == "__main__":
    sys.exit(main())

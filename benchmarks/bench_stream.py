"""Streaming: decision latency, sustained throughput, and the cost of a poll with nothing new.

    python benchmarks/bench_stream.py [--movies 20000] [--idle-movies 50000]

1. A writer process (``motioncons simulate --stream``) writes movies at a fixed rate (latency)
   and then as fast as it can (throughput), the secondary lagging; ``watch`` polls continuously
   in this process. Latency of a movie: from the later modification time of its two result
   files to the end of the poll that put its decision in the outputs. Budget (DESIGN §7):
   <= 2 s. At the maximum rate latency is mostly queueing behind the backlog.
2. With `--idle-movies` movies decided and inputs still open, the CPU time of one poll that finds
   nothing new (listing and stat-ing every file is the unavoidable part).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from motioncons.pipeline import Options
from motioncons.simulation.trajectories import SimulationConfig, write_simulation
from motioncons.streaming.watcher import Watcher, WatchOptions
from scratch import scratch


def _completion_times(project: Path) -> dict[str, float]:
    times: dict[str, float] = {}
    for job in ("MotionCorr/job002", "MotionCorr/job003"):
        for entry in os.scandir(project / job / "Movies"):
            key = entry.name.removesuffix("_fractions.star")
            times[key] = max(times.get(key, 0.0), entry.stat().st_mtime)
    return times


def bench_latency(movies: int, rate: float, workdir: Path) -> None:
    project = workdir / f"stream_{rate:g}"
    writer = subprocess.Popen(
        [sys.executable, "-m", "motioncons.cli", "simulate", str(project), "--stream",
         "--movies", str(movies), "--rate", str(rate), "--lag", "0.2", "--pieces", "0",
         "--table-every", "5000",
         "--seed", "5"],
        stdout=subprocess.DEVNULL)
    while not (project / "MotionCorr/job003/Movies").exists():
        time.sleep(0.01)
    watcher = Watcher(project / "MotionCorr/job002", project / "MotionCorr/job003",
                      workdir / f"out_{rate:g}", Options(),
                      WatchOptions(interval=0.0, settle=30.0))
    decided_at: dict[str, float] = {}
    seen = 0
    start = time.time()
    polls = 0

    def record(report) -> None:
        nonlocal seen, polls
        polls += 1
        if report.decided:
            now = time.time()
            for (key,) in watcher.state.db.execute(
                    "SELECT key FROM decisions WHERE rowid > ?", (seen,)):
                decided_at.setdefault(key, now)
            seen = watcher.state.db.execute("SELECT MAX(rowid) FROM decisions").fetchone()[0]

    watcher.run(record)
    total = time.time() - start
    watcher.close()
    writer.wait()
    complete = _completion_times(project)
    latency = np.array([decided_at[k] - complete[k] for k in decided_at if k in complete])
    pace = "as fast as a second process can" if rate >= 1e5 else f"at {rate:g} movies/s"
    print(f"streaming {movies:,} movies written {pace} ({polls} polls; defaults: overlays of "
          "discarded movies, report every 30 s)")
    print(f"  throughput {len(decided_at) / total:,.0f} movies/s sustained "
          f"({len(decided_at):,} decided in {total:.1f} s, writer included)")
    print(f"  decision latency: median {np.median(latency):.2f} s, 95th percentile "
          f"{np.percentile(latency, 95):.2f} s, max {latency.max():.2f} s   budget <= 2 s")


def bench_idle_poll(movies: int, workdir: Path) -> None:
    info = write_simulation(workdir / "idle", SimulationConfig(movies=movies, seed=6))
    for job in (info["reference"], info["secondary"]):
        os.remove(Path(job) / "RELION_JOB_EXIT_SUCCESS")  # inputs stay open
    watcher = Watcher(info["reference"], info["secondary"], workdir / "idle_out", Options(),
                      WatchOptions(interval=0.0))
    watcher.poll()
    decided = watcher.state.count()
    cpu, wall = [], []
    for _ in range(5):
        c0, w0 = time.process_time(), time.perf_counter()
        report = watcher.poll()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        assert report.decided == 0
    watcher.close()
    print(f"idle poll with {decided:,} movies decided ({2 * movies:,} result files listed): "
          f"CPU {np.median(cpu) * 1000:.0f} ms, wall {np.median(wall) * 1000:.0f} ms (median of 5)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=20000)
    parser.add_argument("--latency-movies", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--idle-movies", type=int, default=50000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    with scratch(args.workdir, "motioncons-bench-stream-") as workdir:
        bench_latency(args.latency_movies, args.rate, workdir)
        print()
        bench_latency(args.movies, 1e5, workdir)
        print()
        bench_idle_poll(args.idle_movies, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

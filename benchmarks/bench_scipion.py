"""The Scipion plugin in a real project: 1,000 movies, as Scipion runs it.

    .venv-scipion/bin/python benchmarks/bench_scipion.py [--movies 1000]

(needs the Scipion environment that ``scripts/test.sh`` sets up). A producer protocol of the test
suite registers the reference and secondary sets (closed); then, in the same process:

1. the launch floor: the producer itself launched on one movie (``launchProtocol``, wait);
2. the engine alone (`SetsConsensus` on the same sqlite files, no pyworkflow);
3. the consensus protocol launched with ``launchProtocol`` (the GUI's path), without plots;
4. the same with ``trajectoryPlot`` (an overlay of every movie).

For comparison, the original protocol took 182-248 s without plots and 784-939 s with them on
1,000 movies on this machine kind (``shared/reference/scipion_headless.md``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from scipion.headless import configure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=1000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="motioncons-bench-scipion-"))
    try:
        configure(root)
        run(args.movies, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(count: int, root: Path) -> None:
    from motioncons.api import options
    from motioncons.formats import scipion
    from motioncons.integrations.scipion_sets import SetsConsensus
    from motioncons.simulation.trajectories import SimulationConfig, simulate_movies
    from scipion.plugin_helpers import consensus, launch, movies_json, new_project, producer

    movies = simulate_movies(SimulationConfig(movies=count, seed=1, failure_fraction=0.1))
    project = new_project("bench")

    def timed(protocol) -> float:
        start = time.perf_counter()
        launch(project, protocol)
        elapsed = time.perf_counter() - start
        current = project.getProtocol(protocol.getObjId())
        assert current.isFinished(), current.getErrorMessage()
        return elapsed

    one = movies_json(root / "one.json", [(1, movies[0].name, movies[0].reference)])
    floor = timed(producer(project, one))
    sides = []
    for side in ("reference", "secondary"):
        data = movies_json(root / f"{side}.json", [(i, m.name, getattr(m, side))
                                                   for i, m in enumerate(movies, start=1)],
                           sampling=0.885)
        protocol = producer(project, data)
        launch(project, protocol)
        sides.append(project.getProtocol(protocol.getObjId()))

    start = time.perf_counter()
    paths = [Path(project.getPath(), s.outputMovies.getFileName()) for s in sides]
    engine = SetsConsensus(options(plots="none", report=False))
    engine.update(scipion.read(paths[0]), scipion.read(paths[1]), closed=True)
    engine_only = time.perf_counter() - start

    plain = timed(consensus(project, *sides))
    plotted = timed(consensus(project, *sides, trajectoryPlot=True))
    print(f"{count} movies in a real Scipion project (pyworkflow launchProtocol, wait)")
    print(f"  launch floor (producer, 1 movie)        {floor:7.2f} s")
    print(f"  engine alone (no pyworkflow)            {engine_only:7.2f} s")
    print(f"  consensus protocol, no plots            {plain:7.2f} s   "
          f"{plain / floor:5.1f}x the launch floor; original 182-248 s")
    print(f"  consensus protocol, trajectoryPlot      {plotted:7.2f} s   "
          f"{plotted / plain:5.1f}x without plots; original 784-939 s")


if __name__ == "__main__":
    main()

"""A poll stats only what can have changed: new names, and a rolling share of what was
consumed (each checked again within RelionJobSource.RECHECK_EVERY polls)."""

from __future__ import annotations

import time
from pathlib import Path

from motioncons.simulation.trajectories import SimulationConfig, write_simulation
from motioncons.streaming.sources import RelionJobSource


def _consume(source: RelionJobSource, full: bool = False) -> int:
    changes = source.poll(full=full)
    for change in changes:
        source.remember(change.source, change.token)
    return len(changes)


def test_an_idle_poll_stats_a_twentieth_and_every_result_is_rechecked_in_time(tmp_path):
    info = write_simulation(tmp_path / "p", SimulationConfig(movies=400, seed=2))
    job = Path(info["reference"])
    (job / "RELION_JOB_EXIT_SUCCESS").unlink()  # still being written
    source = RelionJobSource(job)
    assert _consume(source) == 400  # the first poll checks everything
    stats = []
    for _ in range(RelionJobSource.RECHECK_EVERY):
        before = source.stats
        assert _consume(source) == 0
        stats.append(source.stats - before)
    assert max(stats) == 400 // RelionJobSource.RECHECK_EVERY  # exactly a twentieth
    assert sum(stats) == 400  # each consumed result exactly once per round
    # A result rewritten in place (an aligner re-run) is found within a round.
    target = sorted((job / "Movies").glob("*.star"))[7]
    time.sleep(0.01)
    target.write_text(target.read_text() + "\n")
    found = sum(_consume(source) for _ in range(RelionJobSource.RECHECK_EVERY))
    assert found == 1
    # A new result is found at once, and a full poll checks everything.
    (job / "Movies" / "new_movie.star").write_text(target.read_text())
    assert _consume(source) == 1
    before = source.stats
    assert _consume(source, full=True) == 0
    assert source.stats - before == 401

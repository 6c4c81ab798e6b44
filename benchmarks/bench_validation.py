"""Detection table on a real aligner (RELION 3.1's own motion correction on simulated movies),
and on every failure mode of the trajectory simulator: how each decision rule does.

    python benchmarks/bench_validation.py [--movies 40] [--seeds 21 33] [--size 512]

The first RELION run sees intact movies (B-factor 150, global); the second (B-factor 500, 5x5
patches, --group_frames 3, first_frame_sum 2, bin 2) sees copies in which a quarter of the movies
carry a gain defect or a much lower dose. A movie is "bad" when either run is more than 1.5 px
RMSE from the truth and "good" when both are within 1 px (the rest is not scored). For each rule
the table says how many bad alignments were caught and how many good ones were lost. The rules
with other k and floor values than the default `--max-rmse auto` are evaluated from the same
consensus metrics (the RMSE of each pair), to show how sensitive the default is.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from motioncons.consensus import AUTO_RMSE_FLOOR_PX, AUTO_RMSE_K, AUTO_RMSE_MIN_MOVIES, Thresholds
from motioncons.pipeline import Options, run
from motioncons.simulation.movies import MovieConfig
from motioncons.simulation.trajectories import SimulationConfig, write_simulation
from motioncons.simulation.validation import relion_available, validate
from scratch import scratch


def _rows(folder: Path) -> dict[str, dict[str, str]]:
    with open(folder / "consensus.csv", newline="") as handle:
        return {row["movie"]: row for row in csv.DictReader(handle)}


def auto_threshold(rows: list[dict[str, str]], k: float, floor: float) -> float:
    rmse = np.array([float(r["rmse_px"]) for r in rows
                     if r["reason"] not in ("low_motion",) and r["rmse_px"]])
    if rmse.size < AUTO_RMSE_MIN_MOVIES:
        return floor
    median = np.median(rmse)
    return max(floor, median + k * 1.4826 * np.median(np.abs(rmse - median)))


def discarded_by_rule(row: dict[str, str], threshold: float | None) -> bool:
    """Correlation-only decision (no magnitude criterion) plus an RMSE limit in px."""
    if row["reason"] == "low_motion":
        return False
    if row["reason"] not in ("agree", "high_rmse"):
        return True
    return threshold is not None and float(row["rmse_px"]) > threshold


def relion_table(args, workdir: Path) -> None:
    verdicts, folders = [], []
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        chosen = rng.choice(args.movies, size=args.movies // 4, replace=False).tolist()
        degraded = {int(i): (("gain_defect", float(rng.uniform(1.5, 4.0))) if k % 2 else
                             ("low_dose", float(rng.uniform(3.0, 15.0))))
                    for k, i in enumerate(chosen)}
        base = {int(i): "jump" for i in rng.choice(args.movies, size=3, replace=False)}
        found = validate(workdir / f"seed{seed}", MovieConfig(movies=args.movies, size=args.size,
                                                              seed=seed),
                         base, degraded, fits=("offset", "rigid", "xmipp"))
        verdicts += [(seed, v) for v in found]
        folders.append((seed, workdir / f"seed{seed}"))
    bad = [(s, v) for s, v in verdicts if max(v.truth_rmse) > 1.5]
    good = [(s, v) for s, v in verdicts if max(v.truth_rmse) < 1.0]
    print(f"RELION 3.1, {len(args.seeds)} x {args.movies} movies of {args.size}x{args.size}x24 "
          f"at 1 Å/px: {len(bad)} bad alignments, {len(good)} good, "
          f"{len(verdicts) - len(bad) - len(good)} in between (not scored)")
    print(f"{'rule':<44}{'fit':<8}{'bad caught':>12}{'good lost':>12}")
    for fit in ("offset", "rigid", "xmipp"):
        caught = sum(v.decisions[fit] == "discarded" for _, v in bad)
        lost = sum(v.decisions[fit] == "discarded" for _, v in good)
        label = "default (--max-rmse auto)" if fit != "xmipp" else "default (xmipp: the original)"
        print(f"{label:<44}{fit:<8}{caught:>7} / {len(bad):<4}{lost:>7} / {len(good)}")
    metrics = {seed: _rows(folder / "consensus_offset") for seed, folder in folders}
    rules = [("correlation only (--max-rmse none)", None, None),
             ("--max-rmse 1.5 (fixed, Å = px here)", None, 1.5)]
    rules += [(f"auto, k {k:g}, floor {floor:g} px", (k, floor), None)
              for k in (3.0, 5.0, 8.0) for floor in (0.5, 1.0, 1.5)]
    for label, auto, fixed in rules:
        thresholds = {seed: (auto_threshold(list(rows.values()), *auto) if auto else fixed)
                      for seed, rows in metrics.items()}
        caught = sum(discarded_by_rule(metrics[s][v.movie], thresholds[s]) for s, v in bad)
        lost = sum(discarded_by_rule(metrics[s][v.movie], thresholds[s]) for s, v in good)
        mark = "  <- default" if auto == (AUTO_RMSE_K, AUTO_RMSE_FLOOR_PX) else ""
        print(f"{label:<44}{'offset':<8}{caught:>7} / {len(bad):<4}{lost:>7} / {len(good)}{mark}")
    pair_good = [float(metrics[s][v.movie]["rmse_px"]) for s, v in good]
    pair_bad = [float(metrics[s][v.movie]["rmse_px"]) for s, v in bad]
    print(f"pair RMSE (px): good median {np.median(pair_good):.3f}, max {max(pair_good):.3f}; "
          f"bad min {min(pair_bad):.3f}")


def simulator_table(workdir: Path, seeds: list[int]) -> None:
    """Every failure mode of the trajectory simulator, 40 % of the movies failing."""
    counts: dict[str, dict[str, list[int]]] = {}
    for seed in seeds:
        info = write_simulation(workdir / f"sim{seed}", SimulationConfig(
            movies=400, seed=seed, failure_fraction=0.4))
        with open(info["ground_truth"], newline="") as handle:
            truth = {r["movie"]: r for r in csv.DictReader(handle)}
        for label, thresholds in (("correlation only", Thresholds(max_rmse_A=None)),
                                  ("default (auto)", Thresholds())):
            result = run(info["reference"], info["secondary"], workdir / f"sim{seed}{label[0]}",
                         Options(plots="none", report=False, thresholds=thresholds))
            for row in result.rows:
                failure = truth[row.movie_name]["failure"]
                expected = truth[row.movie_name]["expected"]
                right = counts.setdefault(failure, {}).setdefault(label, [0, 0])
                right[0] += row.decision == expected
                right[1] += 1
    print(f"\nsimulator, {len(seeds)} x 400 movies, 40 % failing: decisions matching the truth")
    print(f"{'failure mode':<18}{'correlation only':>20}{'default (auto)':>20}")
    for failure, by_rule in sorted(counts.items()):
        cells = [f"{by_rule[r][0]} / {by_rule[r][1]}" for r in ("correlation only",
                                                               "default (auto)")]
        print(f"{failure:<18}{cells[0]:>20}{cells[1]:>20}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[21, 33])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--simulator-only", action="store_true")
    args = parser.parse_args(argv)
    with scratch(args.workdir, "motioncons-validation-") as workdir:
        if not args.simulator_only:
            if not relion_available():
                print("relion_run_motioncorr not found: apt-get install relion")
                return 1
            relion_table(args, workdir)
        simulator_table(workdir, [1, 2, 3])
    return 0


if __name__ == "__main__":
    sys.exit(main())

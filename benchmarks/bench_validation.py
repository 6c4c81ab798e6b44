"""Detection table on a real aligner: RELION 3.1's own motion correction, simulated movies.

    python benchmarks/bench_validation.py [--movies 40] [--size 512]

The first RELION run sees intact movies (B-factor 150, global); the second (B-factor 500, 5x5
patches, --group_frames 3, first_frame_sum 2, bin 2) sees copies in which a quarter of the movies
carry a gain defect or a much lower dose. A movie is "bad" when either run is more than 1.5 px
RMSE from the truth and "good" when both are within 1 px. For each fit mode and magnitude
setting the table says how many bad alignments were caught and how many good ones were lost.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from motioncons.movies import MovieConfig
from motioncons.validation import relion_available, validate
from scratch import scratch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=40)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    if not relion_available():
        print("relion_run_motioncorr not found: apt-get install relion")
        return 1
    rng = np.random.default_rng(args.seed)
    chosen = rng.choice(args.movies, size=args.movies // 4, replace=False).tolist()
    degraded = {int(i): (("gain_defect", float(rng.uniform(1.5, 4.0))) if k % 2 else
                         ("low_dose", float(rng.uniform(3.0, 15.0))))
                for k, i in enumerate(chosen)}
    base = {int(i): "jump" for i in rng.choice(args.movies, size=3, replace=False)}
    with scratch(args.workdir, "motioncons-validation-") as workdir:
        results = {}
        for label, limit in (("correlation only", None), ("--max-rmse 1.5 Å", 1.5)):
            verdicts = validate(workdir / label.split()[0].strip("-"),
                                MovieConfig(movies=args.movies, size=args.size, seed=args.seed),
                                base, degraded, fits=("offset", "rigid", "xmipp"),
                                max_rmse_A=limit)
            results[label] = verdicts
        verdicts = next(iter(results.values()))
        print(f"{args.movies} movies of {args.size}x{args.size}x24, 1 Å/px; second run degraded "
              f"on {len(degraded)} ({sum(d[0] == 'gain_defect' for d in degraded.values())} "
              "gain defect, the rest low dose); 3 movies with a jump in both")
        print("\nper-movie error against the truth (RMSE px): first run / second run")
        for v in verdicts:
            print(f"  {v.movie}  {v.truth_rmse[0]:6.2f} / {v.truth_rmse[1]:6.2f}   "
                  f"{v.degraded if v.degraded != 'none' else v.base_failure}")
        bad = [v for v in verdicts if max(v.truth_rmse) > 1.5]
        good = [v for v in verdicts if max(v.truth_rmse) < 1.0]
        print(f"\n{len(bad)} bad alignments, {len(good)} good ones, "
              f"{len(verdicts) - len(bad) - len(good)} in between (not scored)")
        print(f"{'setting':<22}{'fit':<8}{'bad caught':>12}{'good lost':>12}")
        for label, table in results.items():
            by_movie = {v.movie: v for v in table}
            for fit in ("offset", "rigid", "xmipp"):
                caught = sum(by_movie[v.movie].decisions[fit] == "discarded" for v in bad)
                lost = sum(by_movie[v.movie].decisions[fit] == "discarded" for v in good)
                print(f"{label:<22}{fit:<8}{caught:>7} / {len(bad):<4}{lost:>7} / {len(good)}")
        ratio_good = [v.truth_rmse for v in good]
        print(f"\nRELION's own error on good movies: first run median "
              f"{np.median([r[0] for r in ratio_good]):.2f} px, second run median "
              f"{np.median([r[1] for r in ratio_good]):.2f} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())

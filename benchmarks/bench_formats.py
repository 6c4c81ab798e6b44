"""Read rate per format on the same simulated trajectories (movies/s).

    python benchmarks/bench_formats.py [--movies 10000]

Every format is written by the project's own writers (motioncons.simulation.formats, as the
formats are documented) and read back with ``read_input``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from motioncons.formats import read_input
from motioncons.simulation import formats as fmt
from motioncons.simulation.trajectories import SimulationConfig, simulate_movies, write_relion_job

PIXEL = 0.885


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=10000)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="motioncons-bench-formats-"))
    try:
        movies = simulate_movies(SimulationConfig(movies=args.movies, seed=2, failure_fraction=0))
        names = [m.name for m in movies]
        shifts = [m.reference for m in movies]
        paths = {"relion (per-movie STAR)": write_relion_job(root / "relion", "MotionCorr/job002",
                                                             names, shifts, PIXEL)}
        for kind in ("motioncor", "warp", "xmipp", "imod", "cistem"):
            (root / kind).mkdir()
        for name, s in zip(names, shifts, strict=True):
            stem = Path(name).name.rsplit(".", 1)[0]
            fmt.motioncor_stdout(root / "motioncor" / f"{stem}.out", name, s, PIXEL)
            fmt.warp_xml(root / "warp" / f"{stem}.xml", name, s, PIXEL)
            fmt.xmipp_xmd(root / "xmipp" / f"{stem}_shifts.xmd", name, s)
            fmt.imod_xf(root / "imod" / f"{stem}.xf", s)
            fmt.cistem_shifts(root / "cistem" / f"{stem}_shifts.txt", name, s, PIXEL)
        paths["motioncor (stdout)"] = root / "motioncor"
        paths["warp (xml)"] = root / "warp"
        paths["xmipp (xmd)"] = root / "xmipp"
        paths["imod (xf)"] = root / "imod"
        paths["cistem (txt)"] = root / "cistem"
        paths["cryosparc (.cs + .npy)"] = fmt.cryosparc_job(root / "cryosparc", names, shifts,
                                                            PIXEL)
        fmt.scipion_set(root / "scipion.sqlite", names, shifts, PIXEL)
        paths["scipion (sqlite)"] = root / "scipion.sqlite"
        print(f"read rate per format, {args.movies:,} movies of 20-80 frames")
        for label, path in paths.items():
            start = time.perf_counter()
            dataset = read_input(path, pixel_size=PIXEL)
            seconds = time.perf_counter() - start
            assert len(dataset.trajectories) == args.movies, label
            print(f"  {label:<26}{args.movies / seconds:>10,.0f} movies/s")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

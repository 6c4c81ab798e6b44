"""The same simulated movies as a reference in every format that has subsets (RELION,
cryoSPARC, Scipion) and as a plain table, with a RELION secondary: the simulator writes each
format as documented (no real file of most of them is public)."""

from __future__ import annotations

from pathlib import Path

from motioncons.simulation import formats as fmt
from motioncons.simulation.trajectories import (
    SimulationConfig,
    simulate_movies,
    write_relion_job,
)


def write_reference_inputs(root: Path, config: SimulationConfig,
                           pixel_size: float) -> tuple[dict[str, Path], Path]:
    """({format: reference input}, the RELION secondary job)."""
    movies = simulate_movies(config)
    names = [m.name for m in movies]
    reference = [m.reference for m in movies]
    secondary = write_relion_job(root / "relion", "MotionCorr/job003", names,
                                 [m.secondary for m in movies], pixel_size)
    paths = {"relion": write_relion_job(root / "relion", "MotionCorr/job002", names, reference,
                                        pixel_size),
             "cryosparc": fmt.cryosparc_job(root / "cs", names, reference, pixel_size)}
    fmt.scipion_set(root / "movies.sqlite", names, reference, pixel_size)
    paths["scipion"] = root / "movies.sqlite"
    lines = ["movie,frame,x,y,pixel_size"] + [
        f"{name},{frame},{float(x)!r},{float(y)!r},{pixel_size}"
        for name, shifts in zip(names, reference, strict=True)
        for frame, (x, y) in enumerate(shifts, start=1)]
    (root / "table.csv").write_text("\n".join(lines) + "\n")
    paths["table"] = root / "table.csv"
    return paths, secondary

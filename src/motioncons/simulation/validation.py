"""Validation on a real aligner: RELION's own motion correction on simulated movies.

A RELION project is written (``movies.star`` as RELION's Import writes it), RELION's
``relion_run_motioncorr --use_own`` is run twice with different parameters, the second time over
a copy of the movies in which some carry a gain defect or a much lower dose, and motioncons
compares the two results. Each run is also compared with the ground truth, so every decision can
be checked against what actually happened.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..consensus import Thresholds
from ..errors import MotionconsError
from ..pipeline import Options, run
from ..simulation.movies import MovieConfig, degrade_movie, relion_movies_star, simulate_movie_files

RELION = "relion_run_motioncorr"
FIRST_RUN = ["--bin_factor", "1", "--bfactor", "150", "--patch_x", "1", "--patch_y", "1"]
SECOND_RUN = ["--bin_factor", "2", "--bfactor", "500", "--patch_x", "5", "--patch_y", "5",
              "--group_frames", "3", "--first_frame_sum", "2"]


@dataclass
class MovieVerdict:
    movie: str
    base_failure: str
    degraded: str
    truth_rmse: tuple[float, float]
    """RMSE (px) of the first and second RELION run against the ground truth."""
    decisions: dict[str, str] = field(default_factory=dict)
    """Consensus decision per fit mode."""


def relion_available() -> bool:
    return shutil.which(RELION) is not None


def run_relion(project: Path, job: str, config: MovieConfig, extra: list[str]) -> Path:
    command = [RELION, "--i", "movies.star", "--o", f"{job}/", "--use_own", "--j", "2",
               "--angpix", str(config.pixel_size), "--voltage", str(config.voltage_kv),
               "--dose_per_frame", str(config.dose), "--preexposure", "0", *extra]
    result = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not (project / job / "corrected_micrographs.star").exists():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise MotionconsError(f"{project / job}: {RELION} failed: {' '.join(tail)}")
    return project / job


def _truth_rmse(truth: Path, job: Path, out: Path) -> dict[str, float]:
    result = run(truth, job, out, Options(plots="none", report=False, convention="identity",
                                          thresholds=Thresholds(min_corr=-1.0, min_range=0.0),
                                          pixel_size=1.0))
    return {row.movie: row.rmse_px for row in result.rows}


def validate(workdir: str | Path, config: MovieConfig, base_failures: dict[int, str],
             degraded: dict[int, tuple[str, float]], fits: tuple[str, ...] = ("offset",),
             max_rmse_A: float | str | None = "auto") -> list[MovieVerdict]:
    """Simulate, run RELION twice, and return each movie's truth errors and decisions.

    `base_failures` apply to the movies both runs see (``jump``, ``still``, ...); `degraded`
    maps a movie index to (``gain_defect`` or ``low_dose``, strength) for the second run's copy.
    """
    root = Path(workdir)
    first, second = root / "first", root / "second"
    movies = simulate_movie_files(first, config, base_failures)
    (first / "movies.star").write_text(relion_movies_star(movies, config))
    (second / "Movies").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed + 1)
    for index, movie in enumerate(movies):
        source, target = first / movie.name, second / movie.name
        if index in degraded:
            failure, strength = degraded[index]
            degrade_movie(source, target, failure, rng, config.pixel_size, strength)
        else:
            shutil.copy(source, target)
    shutil.copy(first / "movies.star", second / "movies.star")
    job_a = run_relion(first, "MotionCorr/job002", config, FIRST_RUN)
    job_b = run_relion(second, "MotionCorr/job003", config, SECOND_RUN)
    truth = first / "movies_truth.csv"
    rmse_a = _truth_rmse(truth, job_a, root / "truth_vs_first")
    rmse_b = _truth_rmse(truth, job_b, root / "truth_vs_second")
    verdicts = {}
    for index, movie in enumerate(movies):
        key = Path(movie.name).stem
        verdicts[key] = MovieVerdict(key, movie.failure, degraded.get(index, ("none", 0))[0],
                                     (rmse_a[key], rmse_b[key]))
    for fit in fits:
        options = Options(fit=fit, plots="none", report=fit == fits[0],
                          thresholds=Thresholds(max_rmse_A=max_rmse_A))
        result = run(job_a, job_b, root / f"consensus_{fit}", options)
        for row in result.rows:
            verdicts[row.movie].decisions[fit] = row.decision
    return list(verdicts.values())

"""Synthetic pairs of motion-correction results with known ground truth, in RELION's layout.

Motion model (per movie, in unbinned pixels, RELION's applied-shift sign): a fast early
displacement that decays exponentially into a slow linear drift in a nearby direction, plus a small
random walk. Both "aligners" see the true trajectory with independent estimation noise; the
secondary may fail in one of the ways real aligners fail:

- ``jump``: a sudden step of 4-10 px from some frame on (a mis-registered frame);
- ``other_direction``: the drift estimated 60-120° away from the truth;
- ``flat``: all-zero shifts (e.g. a wrapper that writes zeros);
- ``flipped_axis``: x negated on this movie only (a per-movie gain or axis mix-up);
- ``noise_blowup``: a low-dose movie where the estimate drowns in 2-4 px of noise.

A project directory is written as RELION would: ``MotionCorr/job002`` (reference) and
``MotionCorr/job003`` (secondary), each with ``corrected_micrographs.star``, one per-movie STAR per
movie and ``RELION_JOB_EXIT_SUCCESS``; plus ``ground_truth.csv``.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..consensus import CONVENTIONS
from ..outputs.atomic import write_text

FAILURES = ("jump", "other_direction", "flat", "flipped_axis", "noise_blowup")
REFERENCE_JOB = "MotionCorr/job002"
SECONDARY_JOB = "MotionCorr/job003"
_EER_RAW_FRAMES = (800, 1200)
_EER_GROUPING = (32, 25)


@dataclass(frozen=True)
class SimulationConfig:
    movies: int = 200
    seed: int = 0
    min_frames: int = 20
    max_frames: int = 80
    failure_fraction: float = 0.1
    failures: tuple[str, ...] = FAILURES
    pixel_size: float = 0.885
    eer: bool = False
    """EER-like: ~1000 raw frames grouped by 32 (reference) and 25 (secondary) into fractions."""
    secondary_convention: str = "identity"
    """A dataset-wide axis convention applied to every secondary trajectory (e.g. ``flip_x``)."""
    reference_first_frame: int = 1
    """RELION's ``first_frame_sum`` for the reference: earlier frames are written as -9999."""


@dataclass
class SimulatedMovie:
    name: str
    truth_ref: np.ndarray
    truth_sec: np.ndarray
    reference: np.ndarray
    secondary: np.ndarray
    failure: str
    amplitude: float
    extras: dict[str, float] = field(default_factory=dict)

    @property
    def expected(self) -> str:
        return "accepted" if self.failure == "none" else "discarded"


def _true_path(rng: np.random.Generator, times: np.ndarray, amplitude: float) -> np.ndarray:
    """Beam-induced motion at exposure times `times` (in units of frames, 0 = first frame)."""
    direction = rng.uniform(0, 2 * np.pi)
    drift_direction = direction + rng.normal(0, np.radians(40))
    tau = rng.uniform(1.5, 5.0)
    drift = rng.uniform(0.02, 0.3) * amplitude / 8
    early = amplitude * (1 - np.exp(-times / tau))
    late = drift * times
    path = (early[:, None] * [np.cos(direction), np.sin(direction)]
            + late[:, None] * [np.cos(drift_direction), np.sin(drift_direction)])
    steps = rng.normal(0, 0.04, size=(times.size, 2))
    steps[0] = 0
    return path + np.cumsum(steps, axis=0)


def _rotate(values: np.ndarray, degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    matrix = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return values @ matrix.T


def _fail(rng: np.random.Generator, failure: str, truth: np.ndarray) -> tuple[np.ndarray, float]:
    """The secondary's estimate under a failure, and its per-frame noise level."""
    n = truth.shape[0]
    if failure == "jump":
        out = truth.copy()
        at = rng.integers(n // 4, max(n // 4 + 1, 3 * n // 4))
        angle = rng.uniform(0, 2 * np.pi)
        out[at:] += rng.uniform(4, 10) * np.array([np.cos(angle), np.sin(angle)])
        return out, rng.uniform(0.05, 0.2)
    if failure == "other_direction":
        return _rotate(truth, rng.choice([-1, 1]) * rng.uniform(60, 120)), rng.uniform(0.05, 0.2)
    if failure == "flat":
        return np.zeros_like(truth), 0.0
    if failure == "flipped_axis":
        return truth * [-1.0, 1.0], rng.uniform(0.05, 0.2)
    if failure == "noise_blowup":
        return truth, rng.uniform(2.0, 4.0)
    raise ValueError(f"unknown failure mode {failure!r}; choose from {', '.join(FAILURES)}")


def simulate_movies(config: SimulationConfig) -> list[SimulatedMovie]:
    rng = np.random.default_rng(config.seed)
    n_fail = round(config.movies * config.failure_fraction)
    failing = (set(rng.choice(config.movies, size=n_fail, replace=False).tolist()) if n_fail
               else set())
    convention = CONVENTIONS[config.secondary_convention]
    movies = []
    for i in range(config.movies):
        name = f"Movies/FoilHole_{1000 + i // 4}_Data_{i:05d}_fractions.tiff"
        low_motion = rng.random() < 0.05 and i not in failing
        amplitude = rng.uniform(0.3, 1.2) if low_motion else float(np.exp(rng.normal(2.2, 0.5)))
        if config.eer:
            raw = rng.integers(*_EER_RAW_FRAMES)
            n_ref, n_sec = raw // _EER_GROUPING[0], raw // _EER_GROUPING[1]
            # Exposure midpoints of each fraction, in units of reference fractions.
            t_ref = np.arange(n_ref) + 0.5
            t_sec = (np.arange(n_sec) + 0.5) * n_ref / n_sec
        else:
            n_ref = n_sec = int(rng.integers(config.min_frames, config.max_frames + 1))
            t_ref = t_sec = np.arange(n_ref, dtype=float)
        times, inverse = np.unique(np.concatenate([t_ref, t_sec]), return_inverse=True)
        path = _true_path(rng, times - times[0], amplitude)[inverse]
        truth_ref, truth_sec = path[: t_ref.size], path[t_ref.size:]
        failure = str(rng.choice(config.failures)) if i in failing else "none"
        sec_noise = rng.uniform(0.05, 0.2)
        sec_estimate = truth_sec
        if failure != "none":
            sec_estimate, sec_noise = _fail(rng, failure, truth_sec)
        reference = truth_ref + rng.normal(0, rng.uniform(0.03, 0.12), truth_ref.shape)
        secondary = sec_estimate + rng.normal(0, 1, truth_sec.shape) * sec_noise
        if failure == "flat":
            secondary = np.zeros_like(truth_sec)
        secondary = secondary @ convention.T
        movies.append(SimulatedMovie(name, truth_ref, truth_sec, reference, secondary, failure,
                                     amplitude, {"sec_noise_px": float(sec_noise)}))
    return movies


# --------------------------------------------------------------------------- RELION layout


def relion_token(value: str) -> str:
    """A string as RELION writes it in STAR: double-quoted when it holds blanks, otherwise bare,
    UTF-8 included (which strict CIF parsers refuse)."""
    return f'"{value}"' if any(c.isspace() for c in value) or not value else value


def _movie_star(movie_name: str, shifts: np.ndarray, pixel_size: float, first_frame: int,
                version: str, eer_grouping: int | None) -> str:
    n = shifts.shape[0]
    observed = np.arange(1, n + 1) >= first_frame
    zeroed = shifts - shifts[observed][0]
    zeroed[~observed] = -9999.0
    eer = (f"_rlnEERUpsampling                                     1\n"
           f"_rlnEERGrouping                                      {eer_grouping}\n"
           if eer_grouping else "")
    general = (f"{version}\n\ndata_general\n\n"
               f"_rlnImageSizeX                                     4096\n"
               f"_rlnImageSizeY                                     4096\n"
               f"_rlnImageSizeZ                                       {n}\n"
               f"_rlnMicrographMovieName                    {relion_token(movie_name)}\n"
               f"_rlnMicrographBinning                          1.000000\n"
               f"_rlnMicrographOriginalPixelSize                {pixel_size:.6f}\n"
               f"_rlnMicrographDoseRate                         1.000000\n"
               f"_rlnMicrographPreExposure                      0.000000\n"
               f"_rlnVoltage                                  300.000000\n"
               f"_rlnMicrographStartFrame                              {first_frame}\n"
               f"{eer}"
               f"_rlnMotionModelVersion                                0\n\n")
    rows = "\n".join(f"{i + 1:12d} {x:12.6f} {y:12.6f}" for i, (x, y) in enumerate(zeroed))
    return (general + f"{version}\n\ndata_global_shift\n\nloop_ \n"
            "_rlnMicrographFrameNumber #1 \n_rlnMicrographShiftX #2 \n_rlnMicrographShiftY #3 \n"
            + rows + "\n \n\n")


def _accumulated_motion(shifts: np.ndarray, first_frame: int) -> tuple[float, float, float]:
    steps = np.hypot(*np.diff(shifts[first_frame - 1:], axis=0).T)
    early = float(steps[:4].sum())
    return float(steps.sum()), early, float(steps.sum()) - early


def _micrographs_star(job: str, names: list[str], per_movie: list[np.ndarray], pixel_size: float,
                      version: str, first_frame: int) -> str:
    lines = [f"{version}\n", "data_optics\n", "loop_ ",
             "_rlnOpticsGroupName #1 ", "_rlnOpticsGroup #2 ",
             "_rlnMicrographOriginalPixelSize #3 ", "_rlnVoltage #4 ",
             "_rlnSphericalAberration #5 ", "_rlnAmplitudeContrast #6 ",
             "_rlnMicrographPixelSize #7 ",
             f"opticsGroup1            1     {pixel_size:.6f}   300.000000     2.700000     "
             f"0.100000     {pixel_size:.6f} ", " ", "", f"{version}\n", "data_micrographs\n",
             "loop_ ", "_rlnMicrographName #1 ", "_rlnMicrographMetadata #2 ",
             "_rlnOpticsGroup #3 ", "_rlnAccumMotionTotal #4 ", "_rlnAccumMotionEarly #5 ",
             "_rlnAccumMotionLate #6 "]
    for name, shifts in zip(names, per_movie, strict=True):
        stem = f"{job}/{name.rsplit('.', 1)[0].replace('.', '_')}"
        total, early, late = _accumulated_motion(shifts, first_frame)
        lines.append(f"{relion_token(stem + '.mrc')} {relion_token(stem + '.star')}            1 "
                     f"{total:12.6f} {early:12.6f} {late:12.6f} ")
    return "\n".join(lines) + "\n \n"


def write_relion_job(project: Path, job: str, names: list[str], per_movie: list[np.ndarray],
                     pixel_size: float, first_frame: int = 1, eer_grouping: int | None = None,
                     version: str = "# version 30001") -> Path:
    job_dir = project / job
    (job_dir / "Movies").mkdir(parents=True, exist_ok=True)
    for name, shifts in zip(names, per_movie, strict=True):
        stem = name.rsplit(".", 1)[0].replace(".", "_")
        (job_dir / f"{stem}.star").write_text(
            _movie_star(name, shifts, pixel_size, first_frame, version, eer_grouping))
    write_text(job_dir / "corrected_micrographs.star",
               _micrographs_star(job, names, per_movie, pixel_size, version, first_frame))
    (job_dir / "RELION_JOB_EXIT_SUCCESS").touch()
    return job_dir


def stream_simulation(out: str | Path, config: SimulationConfig, rate: float = 50.0,
                      lag: float = 2.0, extra_reference: float = 0.0, pieces: float = 0.1,
                      table_every: int = 25, seed: int = 0) -> dict[str, Any]:
    """Write the two jobs over time, as two aligners would during a session.

    Reference results appear in random order at `rate` movies/s; each secondary result follows
    its reference `lag` seconds later (give or take half of it); a fraction `pieces` of the
    files is written in two parts with a pause between them; each job's
    ``corrected_micrographs.star`` is rewritten in place (not atomically, as RELION does) every
    `table_every` movies; a fraction `extra_reference` of the movies never gets a secondary
    result. Each job ends with ``RELION_JOB_EXIT_SUCCESS``.
    """
    rng = np.random.default_rng(seed)
    project = Path(out)
    movies = simulate_movies(config)
    names = [m.name for m in movies]
    jobs = {"reference": project / REFERENCE_JOB, "secondary": project / SECONDARY_JOB}
    for job in jobs.values():
        (job / "Movies").mkdir(parents=True, exist_ok=True)
    write_text(project / "ground_truth.csv", ground_truth_csv(movies))
    skipped = set(rng.choice(len(movies), size=round(extra_reference * len(movies)),
                             replace=False).tolist())
    start = time.monotonic()
    events = []
    for slot, index in enumerate(rng.permutation(len(movies))):
        at = slot / rate
        events.append((at, "reference", int(index)))
        if int(index) not in skipped:
            events.append((at + lag * rng.uniform(0.5, 1.5), "secondary", int(index)))
    events.sort()
    done: dict[str, list[int]] = {"reference": [], "secondary": []}
    for at, side, index in events:
        delay = start + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        movie = movies[index]
        shifts = movie.reference if side == "reference" else movie.secondary
        version = "# version 30001" if side == "reference" else "# version 50001"
        text = _movie_star(movie.name, shifts, config.pixel_size, 1, version, None)
        stem = movie.name.rsplit(".", 1)[0].replace(".", "_")
        with open(jobs[side] / f"{stem}.star", "w") as handle:
            if rng.random() < pieces:
                handle.write(text[: len(text) // 2])
                handle.flush()
                time.sleep(0.05)
            handle.write(text[len(text) // 2:] if handle.tell() else text)
        done[side].append(index)
        if len(done[side]) % table_every == 0:
            _write_table_in_place(jobs[side], side, done[side], movies, config)
    for side, job in jobs.items():
        _write_table_in_place(job, side, done[side], movies, config)
        (job / "RELION_JOB_EXIT_SUCCESS").touch()
    return {"project": str(project), "reference": str(jobs["reference"]),
            "secondary": str(jobs["secondary"]), "movies": len(names),
            "secondary_missing": len(skipped)}


def _write_table_in_place(job: Path, side: str, indices: list[int],
                          movies: list[SimulatedMovie], config: SimulationConfig) -> None:
    chosen = [movies[i] for i in sorted(indices)]
    job_name = REFERENCE_JOB if side == "reference" else SECONDARY_JOB
    text = _micrographs_star(job_name, [m.name for m in chosen],
                             [m.reference if side == "reference" else m.secondary
                              for m in chosen], config.pixel_size,
                             "# version 30001", 1)
    (job / "corrected_micrographs.star").write_text(text)


def ground_truth_csv(movies: list[SimulatedMovie]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["movie", "failure", "expected", "amplitude_px", "frames_reference",
                     "frames_secondary", "secondary_noise_px"])
    for m in movies:
        writer.writerow([m.name, m.failure, m.expected, f"{m.amplitude:.4f}",
                         m.reference.shape[0], m.secondary.shape[0],
                         f"{m.extras['sec_noise_px']:.4f}"])
    return buffer.getvalue()


def write_simulation(out: str | Path, config: SimulationConfig) -> dict[str, Any]:
    """Simulate and write a RELION project with two motion-correction jobs and the ground truth."""
    if config.movies < 1:
        raise ValueError("--movies must be at least 1")
    if config.secondary_convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {config.secondary_convention!r}")
    if config.min_frames < 3 or config.max_frames < config.min_frames:
        raise ValueError("frame counts must satisfy 3 <= min <= max")
    project = Path(out)
    movies = simulate_movies(config)
    names = [m.name for m in movies]
    write_relion_job(project, REFERENCE_JOB, names, [m.reference for m in movies],
                     config.pixel_size, first_frame=config.reference_first_frame,
                     eer_grouping=_EER_GROUPING[0] if config.eer else None)
    write_relion_job(project, SECONDARY_JOB, names, [m.secondary for m in movies],
                     config.pixel_size, eer_grouping=_EER_GROUPING[1] if config.eer else None,
                     version="# version 50001")
    write_text(project / "ground_truth.csv", ground_truth_csv(movies))
    failures = {f: sum(1 for m in movies if m.failure == f) for f in ("none", *config.failures)}
    return {"project": str(project), "reference": str(project / REFERENCE_JOB),
            "secondary": str(project / SECONDARY_JOB), "movies": len(movies),
            "failures": failures, "ground_truth": str(project / "ground_truth.csv")}

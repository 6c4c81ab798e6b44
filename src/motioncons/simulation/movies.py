"""Synthetic movies (MRC stacks) with known beam-induced motion, for testing real aligners.

A specimen (a low-resolution texture plus CTF-modulated particles) is moved along a known
trajectory with sub-pixel Fourier shifts, all frames at once; each frame gets Poisson noise at
the given dose. The specimen is rendered on a larger canvas whose edges are tapered, shifted
there and cropped, so the periodic shift leaves no seam and no fixed pattern in the frames (a
taper applied to the frames would itself pull an aligner towards zero shift). The
ground truth is written in RELION's convention: the shift that re-aligns each frame (minus the
specimen displacement), first frame zero, in pixels, x along MRC columns and y along MRC rows.

Failure modes a user meets in practice, per movie:

- ``low_dose``: a tenth of the dose, so the aligner has little signal;
- ``gain_defect``: a fixed pattern (an uncorrected gain reference) identical in every frame,
  which pulls an aligner towards zero shift;
- ``jump``: the specimen jumps by several pixels half-way through the exposure;
- ``still``: near-zero motion.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..outputs.atomic import write_bytes, write_text

MOVIE_FAILURES = ("low_dose", "gain_defect", "jump", "still")


@dataclass(frozen=True)
class MovieConfig:
    movies: int = 8
    size: int = 512
    frames: int = 24
    dose: float = 1.0
    """Electrons per Å² per frame."""
    pixel_size: float = 1.0
    seed: int = 0
    particles: int = 60
    defocus_um: float = 1.5
    voltage_kv: float = 300.0


def write_mrc(path: Path, stack: np.ndarray, pixel_size: float) -> None:
    """An MRC2014 stack (mode 2, float32; nz frames of ny rows by nx columns)."""
    data = np.ascontiguousarray(stack, dtype=np.float32)
    nz, ny, nx = data.shape
    header = np.zeros(256, dtype=np.int32)
    header[0:3] = (nx, ny, nz)
    header[3] = 2
    header[7:10] = (nx, ny, nz)
    floats = header.view(np.float32)
    floats[10:13] = (nx * pixel_size, ny * pixel_size, nz * pixel_size)
    floats[13:16] = 90.0
    header[16:19] = (1, 2, 3)
    floats[19:22] = (data.min(), data.max(), data.mean())
    header[22] = 0  # space group 0: a stack of images
    raw = bytearray(header.tobytes())
    raw[208:212] = b"MAP "
    raw[212:216] = bytes((0x44, 0x44, 0, 0))
    floats_rms = np.array([data.std()], dtype=np.float32).tobytes()
    raw[216:220] = floats_rms
    write_bytes(path, bytes(raw) + data.tobytes())


def read_mrc(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    nx, ny, nz, mode = np.frombuffer(raw[:16], dtype=np.int32)
    extended = int(np.frombuffer(raw[92:96], dtype=np.int32)[0])
    dtype = {0: np.int8, 1: np.int16, 2: np.float32, 6: np.uint16}[int(mode)]
    return np.frombuffer(raw[1024 + extended:], dtype=dtype).reshape(nz, ny, nx)


def _frequencies(size: int) -> tuple[np.ndarray, np.ndarray]:
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    return fy, fx


MARGIN = 48
"""Canvas margin (px) around the field of view; larger than any simulated displacement."""


def specimen(config: MovieConfig, rng: np.random.Generator) -> np.ndarray:
    """Projected specimen density on the canvas: texture plus CTF-modulated particles (mean 1)."""
    n = config.size + 2 * MARGIN
    fy, fx = _frequencies(n)
    radius = np.hypot(fy, fx)
    texture = np.fft.irfft2(np.fft.rfft2(rng.normal(size=(n, n))) * np.exp(-(radius / 0.02) ** 2),
                            s=(n, n))
    texture /= texture.std() + 1e-12
    particles = np.zeros((n, n))
    ys, xs = rng.integers(16, n - 16, size=(2, config.particles))
    particles[ys, xs] = rng.uniform(0.5, 1.5, config.particles)
    wavelength = 12.2643 / np.sqrt(config.voltage_kv * 1e3 * (1 + 0.978466e-6 * config.voltage_kv
                                                             * 1e3))
    s2 = (radius / config.pixel_size) ** 2
    ctf = -np.sin(np.pi * wavelength * config.defocus_um * 1e4 * s2 + 0.1)
    blobs = np.exp(-(radius / 0.08) ** 2)
    density = np.fft.irfft2(np.fft.rfft2(particles) * blobs * ctf, s=(n, n))
    density /= density.std() + 1e-12
    image = 1.0 + 0.25 * texture + 0.35 * density
    return 1.0 + (np.clip(image, 0.05, None) - 1.0) * _taper(n, MARGIN)


def _taper(size: int, width: int = 24) -> np.ndarray:
    ramp = np.ones(size)
    edge = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, width))
    ramp[:width] = edge
    ramp[-width:] = edge[::-1]
    return np.outer(ramp, ramp)


def displacement(rng: np.random.Generator, frames: int, failure: str) -> np.ndarray:
    """Specimen displacement (px) per frame, (frames, 2) as (x, y); frame 1 at zero."""
    t = np.arange(frames, dtype=float)
    if failure == "still":
        return rng.normal(0, 0.03, (frames, 2)) * (t[:, None] > 0)
    amplitude = rng.uniform(6, 14)
    angle = rng.uniform(0, 2 * np.pi)
    tau = rng.uniform(2, 5)
    path = amplitude * (1 - np.exp(-t / tau))[:, None] * [np.cos(angle), np.sin(angle)]
    drift_angle = angle + rng.normal(0, 0.5)
    path += (0.12 * t)[:, None] * [np.cos(drift_angle), np.sin(drift_angle)]
    if failure == "jump":
        at = frames // 2
        jump_angle = angle + np.pi / 2
        path[at:] += rng.uniform(5, 8) * np.array([np.cos(jump_angle), np.sin(jump_angle)])
    return path - path[0]


def render_movie(image: np.ndarray, moves: np.ndarray, counts_per_pixel: float,
                 rng: np.random.Generator, gain: np.ndarray | None = None) -> np.ndarray:
    """Frames of the canvas `image` displaced by `moves` (x, y per frame), cropped to the field
    of view, with Poisson noise."""
    n = image.shape[0]
    fy, fx = _frequencies(n)
    spectrum = np.fft.rfft2(image)
    phase = np.exp(-2j * np.pi * (fx[None] * moves[:, 0, None, None]
                                  + fy[None] * moves[:, 1, None, None]))
    frames = np.fft.irfft2(spectrum[None] * phase, s=(n, n), axes=(1, 2))
    frames = frames[:, MARGIN: n - MARGIN, MARGIN: n - MARGIN]
    frames = np.clip(frames, 0, None) * counts_per_pixel
    if gain is not None:
        frames = frames * gain
    return rng.poisson(frames).astype(np.float32)


def gain_defect(rng: np.random.Generator, size: int, strength: float = 1.0) -> np.ndarray:
    """An uncorrected gain reference: column and row stripes plus defective pixels."""
    columns = 1.0 + 0.35 * strength * rng.standard_normal(size)
    rows = 1.0 + 0.2 * strength * rng.standard_normal(size)
    gain = np.clip(np.outer(rows, columns), 0.1, None)
    return gain * (1.0 + 2.0 * strength * (rng.random((size, size)) > 0.99))


def degrade_movie(source: Path, target: Path, failure: str, rng: np.random.Generator,
                  pixel_size: float, strength: float = 1.0) -> None:
    """A copy of a movie as a worse detector or session would have recorded it.

    ``low_dose`` keeps each count with probability ``0.1 / strength`` (binomial thinning of a
    Poisson image is exactly the same movie at a lower dose); ``gain_defect`` multiplies every
    frame by the same uncorrected gain pattern.
    """
    frames = read_mrc(source).astype(np.float64)
    if failure == "low_dose":
        frames = rng.binomial(frames.astype(np.int64), min(1.0, 0.1 / strength)).astype(
            np.float64)
    elif failure == "gain_defect":
        frames = frames * gain_defect(rng, frames.shape[1], strength)[None]
    else:
        raise ValueError(f"cannot degrade a copy with {failure!r}; use low_dose or gain_defect")
    write_mrc(target, frames.astype(np.float32), pixel_size)


@dataclass
class SimulatedMovieFile:
    name: str
    failure: str
    truth: np.ndarray
    """RELION-convention shifts (frames, 2), frame 1 = (0, 0)."""


def simulate_movie_files(out: str | Path, config: MovieConfig,
                         failures: dict[int, str] | None = None,
                         movie_dir: str = "Movies") -> list[SimulatedMovieFile]:
    """Write the movies and the ground truth; `failures` maps movie index to a failure mode."""
    failures = failures or {}
    unknown = set(failures.values()) - set(MOVIE_FAILURES)
    if unknown:
        raise ValueError(f"unknown failure mode(s) {sorted(unknown)}; choose from "
                         f"{', '.join(MOVIE_FAILURES)}")
    rng = np.random.default_rng(config.seed)
    root = Path(out)
    electrons_per_pixel = config.dose * config.pixel_size ** 2
    written = []
    for i in range(config.movies):
        failure = failures.get(i, "none")
        moves = displacement(rng, config.frames, failure)
        image = specimen(config, rng)
        dose = electrons_per_pixel * (0.1 if failure == "low_dose" else 1.0)
        gain = gain_defect(rng, config.size) if failure == "gain_defect" else None
        stack = render_movie(image, moves, dose, rng, gain)
        name = f"{movie_dir}/movie_{i:03d}.mrcs"
        write_mrc(root / name, stack, config.pixel_size)
        written.append(SimulatedMovieFile(name, failure, -moves))
    write_text(root / "movies_truth.csv", truth_csv(written))
    return written


def truth_csv(movies: list[SimulatedMovieFile]) -> str:
    """Ground truth as the plain table motioncons reads (movie, frame, x, y) plus the failure."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["movie", "frame", "x", "y", "failure"])
    for movie in movies:
        for frame, (x, y) in enumerate(movie.truth, start=1):
            writer.writerow([movie.name, frame, f"{x + 0.0:.4f}", f"{y + 0.0:.4f}", movie.failure])
    return buffer.getvalue()


def relion_movies_star(movies: list[SimulatedMovieFile], config: MovieConfig) -> str:
    """``movies.star`` as RELION's Import job writes it (RELION 3.1 layout)."""
    rows = "\n".join(f"{m.name} 1" for m in movies)
    return ("# version 30001\n\ndata_optics\n\nloop_\n_rlnOpticsGroupName #1\n"
            "_rlnOpticsGroup #2\n_rlnMicrographOriginalPixelSize #3\n_rlnVoltage #4\n"
            "_rlnSphericalAberration #5\n_rlnAmplitudeContrast #6\n"
            f"opticsGroup1 1 {config.pixel_size:.6f} {config.voltage_kv:.6f} 2.700000 "
            "0.100000\n\n\n# version 30001\n\ndata_movies\n\nloop_\n"
            "_rlnMicrographMovieName #1\n_rlnOpticsGroup #2\n" + rows + "\n\n")

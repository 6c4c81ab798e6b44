"""Warp 1.0.9 / Warp 2 per-movie XML: the global motion ``GridMovementX`` / ``GridMovementY``.

The grid holds Z temporal control points (Å, mean-centred) of an interpolating cubic spline
with natural boundary conditions through nodes evenly spaced on [0, 1]; frame f (0-based) of N
sits at t = f / (N - 1) (``OptionsMovement/Dimensions`` gives N). The value is the shift applied to
the frame (RELION's sign). Å become pixels with ``PixelSizeX`` (1.0.9) or ``PixelSize`` (Warp 2)
from ``OptionsMovement``. Files are UTF-16 (1.0.9) or UTF-8 with a byte-order mark (Warp 2).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..trajectory import Problem, Trajectory, TrajectorySet, movie_key
from .common import MAX_FRAMES, bounded_int, problem, read_files

NAME = "warp"


def _text(path: Path) -> str | None:
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    for bom, codec in ((b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"),
                       (b"\xef\xbb\xbf", "utf-8-sig")):
        if raw.startswith(bom):
            return raw.decode(codec, errors="replace")
    return raw.decode("utf-8", errors="replace")


def _is_motion_json(path: Path) -> bool:
    return path.name.endswith("_motion.json")


def _is_movie_xml(path: Path) -> bool:
    text = _text(path) or ""
    return "<Movie" in text[:2000] and "GridMovementX" in text


def detect(path: Path) -> bool:
    if path.is_dir():
        return any(_is_movie_xml(p) for p in path.glob("*.xml")) or any(
            path.glob("*_motion.json"))
    return (path.suffix == ".xml" and _is_movie_xml(path)) or _is_motion_json(path)


def read(path: Path, pixel_size: float | None = None) -> TrajectorySet:
    if path.is_dir():
        # Every .xml of a Warp folder is a movie's: a broken one is its movie's problem.
        files = sorted(p for p in path.glob("*.xml") if p.is_file())
        files += sorted(path.glob("*_motion.json"))
    else:
        files = [path]
    return read_files(path, files, "warp",
                      lambda f: read_motion_json(f, pixel_size) if _is_motion_json(f)
                      else read_file(f, pixel_size),
                      "no Warp movie XML or WarpTools _motion.json files")


def read_motion_json(file: Path, pixel_size: float | None) -> Trajectory | Problem:
    """WarpTools ``average/<movie>_motion.json``: per grid cell ``"x_y": {"x": [...], "y": [...]}``
    in Å (global plus local motion at the cell); the global trajectory is their mean."""
    key, name = movie_key(file.name.removesuffix("_motion.json")), file.name
    try:
        cells = json.loads(file.read_text(encoding="utf-8-sig"))
        tracks = np.array([[cell["x"], cell["y"]] for cell in cells.values()], dtype=float)
        angstrom = tracks.mean(axis=0).T
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return problem(key, name, file, "unreadable",
                       f"not a WarpTools motion JSON ({' '.join(str(exc).split())})")
    if angstrom.ndim != 2 or not len(angstrom) or not np.isfinite(angstrom).all():
        return problem(key, name, file, "unreadable", "empty or NaN tracks")
    extras = {"units": "Å", "angstrom": angstrom, "needs_pixel_size": not pixel_size}
    if pixel_size:
        extras["pixel_size_from"] = "--pixel-size"
    shifts = angstrom / pixel_size if pixel_size else angstrom
    return Trajectory(key, name, np.arange(1, len(angstrom) + 1), shifts, pixel_size, str(file),
                      NAME, None, extras)


def natural_spline(nodes: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Interpolating cubic spline with natural boundaries through nodes on linspace(0, 1)."""
    z = len(nodes)
    if z == 1:
        return np.full(t.shape, nodes[0])
    if z == 2:
        return nodes[0] + (nodes[1] - nodes[0]) * t
    h = 1.0 / (z - 1)
    # Second derivatives: zero at both ends, h·m[i-1] + 4h·m[i] + h·m[i+1] = rhs[i] inside; the
    # tridiagonal system is solved in O(z) (a dense solve is O(z³): minutes at 10,000 nodes).
    rhs = np.zeros(z)
    rhs[1:-1] = 6 * (nodes[2:] - 2 * nodes[1:-1] + nodes[:-2]) / h
    second = _tridiagonal(h, 4 * h, rhs)
    k = np.clip((t / h).astype(int), 0, z - 2)
    a = (k + 1) * h - t
    b = t - k * h
    left, right = second[k], second[k + 1]
    return (left * a ** 3 / (6 * h) + right * b ** 3 / (6 * h)
            + (nodes[k] / h - left * h / 6) * a + (nodes[k + 1] / h - right * h / 6) * b)


def _tridiagonal(off: float, diagonal: float, rhs: np.ndarray) -> np.ndarray:
    """Solve for m with m[0] = m[-1] = 0 and off·m[i-1] + diagonal·m[i] + off·m[i+1] = rhs[i]."""
    z = len(rhs)
    solution = np.zeros(z)
    inner = z - 2
    if inner <= 0:
        return solution
    upper = np.zeros(inner)
    value = np.zeros(inner)
    previous_upper, previous_value = 0.0, 0.0
    for i in range(inner):  # forward sweep (Thomas algorithm)
        pivot = diagonal - off * previous_upper
        previous_upper = upper[i] = off / pivot
        previous_value = value[i] = (rhs[i + 1] - off * previous_value) / pivot
    for i in range(inner - 1, -1, -1):
        solution[i + 1] = value[i] - upper[i] * solution[i + 2]
    return solution


def _grid(root: ET.Element, name: str) -> np.ndarray:
    grid = root.find(name)
    if grid is None:
        raise ValueError(f"no {name}")
    nodes = sorted((int(n.get("Z", 0)), float(n.get("Value", "nan"))) for n in grid.iter("Node")
                    if n.get("X", "0") == "0" and n.get("Y", "0") == "0")
    return np.array([v for _, v in nodes])


def read_file(file: Path, pixel_size: float | None) -> Trajectory | Problem:
    key, name = movie_key(file.name), file.name
    try:
        root = ET.fromstring(_text(file) or "")
        params = {p.get("Name"): p.get("Value") for p in root.iter("Param")}
        x_nodes, y_nodes = _grid(root, "GridMovementX"), _grid(root, "GridMovementY")
        frames = bounded_int((params.get("Dimensions") or "0,0,0").split(",")[2],
                             "frame count", 1, MAX_FRAMES)
        size = float(params.get("PixelSizeX") or params.get("PixelSize") or pixel_size or "nan")
    except (ET.ParseError, ValueError, IndexError) as exc:
        return problem(key, name, file, "unreadable",
                       f"not a readable Warp movie XML ({' '.join(str(exc).split())})")
    if not len(x_nodes) or len(x_nodes) != len(y_nodes) or len(x_nodes) > MAX_FRAMES:
        return problem(key, name, file, "unreadable",
                       "no frame count or movement grid")
    if not np.isfinite(size):
        return problem(key, name, file, "unreadable",
                       "no pixel size to convert Å to pixels (give --pixel-size)")
    t = np.arange(frames) / max(frames - 1, 1)
    shifts = np.column_stack([natural_spline(x_nodes, t), natural_spline(y_nodes, t)]) / size
    return Trajectory(key, name, np.arange(1, frames + 1), shifts, size, str(file), NAME,
                      frames, {})

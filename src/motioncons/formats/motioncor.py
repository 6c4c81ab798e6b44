"""MotionCor2 / MotionCor3 (``shared/reference/formats_relion_motioncor.md`` §5-6).

Read: standard output as RELION keeps it (``<movie>.out``) or as a batch (``-Serial 1``) log, in
the 1.5 (``...... Frame (  n) shift:``) and 1.6 (``Frame   x Shift   y Shift`` table) layouts;
``-Full.log`` / ``-Patch-Full.log`` / ``0-Patch-Full.log``; MotionCor3 ``.aln`` (0-based
frames). Shifts are in input-movie pixels with RELION's sign already; the zero frame varies
(``-FmRef``) and does not matter (every comparison removes a constant offset). Frame numbers are
those of the aligned stack, so ``-Throw`` (echoed in standard output) is added back; log files do
not record it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..trajectory import Problem, Trajectory, TrajectorySet, movie_key
from .common import MAX_FRAMES, bounded_int, problem, unreadable

NAME = "motioncor"
_LOG_SUFFIXES = ("-Patch-Full.log", "-Full.log", ".aln", ".out")
_PARAM = re.compile(r"^-(\w+)[ \t]+(\S.*?)\s*$")
_FRAME_15 = re.compile(r"Frame \(\s*(\d+)\) shift:\s+(\S+)\s+(\S+)")
_ROW = re.compile(r"^\s*([+-]?\d+)\s+([+-]?[\d.eE+-]+)\s+([+-]?[\d.eE+-]+)\s*$")


def _head(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read(65536).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _is_result(path: Path) -> bool:
    if path.name.endswith(("-Full.log", ".aln")):
        return True
    if path.suffix in (".out", ".log", ".txt"):
        head = _head(path)
        return "Full-frame alignment" in head or "Frame (" in head or "# full frame" in head
    return False


def detect(path: Path) -> bool:
    if path.is_dir():
        return any(_is_result(p) for p in path.iterdir() if p.is_file())
    return path.is_file() and _is_result(path)


def _candidate(path: Path) -> bool:
    """A file of a MotionCor output folder that is a result by its name, whatever it holds (a
    broken one is reported as its movie's problem), or a log that is one by its content."""
    return path.name.endswith(_LOG_SUFFIXES) or _is_result(path)


def read(path: Path, pixel_size: float | None = None) -> TrajectorySet:
    files = sorted(p for p in path.iterdir() if p.is_file() and _candidate(p)) \
        if path.is_dir() else [path]
    dataset = TrajectorySet(path=str(path), format="motioncor")
    for file in files:
        try:
            items = _read_file(file, pixel_size)
        except Exception as exc:  # any failure of one file is its movie's problem
            items = [unreadable(file, exc)]
        for item in items:
            dataset.add(item)
    if not dataset.trajectories and not dataset.problems:
        raise InputError(path, "no MotionCor2/3 output with a full-frame shift table found")
    return dataset


def _read_file(file: Path, pixel_size: float | None) -> list[Trajectory | Problem]:
    text = file.read_text(encoding="utf-8", errors="replace")
    if file.suffix == ".aln":
        return [_aln(text, file, pixel_size)]
    if file.name.endswith("-Full.log"):
        return [_log(text, file, pixel_size)]
    return _stdout(text, file, pixel_size)


def _trajectory(name: str, rows: list[tuple[str, ...]], source: Path, offset: int,
                pixel_size: float | None, extras: dict,
                total: int | None = None) -> Trajectory | Problem:
    key = movie_key(name)
    if len(rows) < 1:
        return problem(key, name, source, "unreadable",
                       f"no full-frame shifts for {name} (truncated?)")
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        return problem(key, name, source, "unreadable",
                       f"non-numeric full-frame shift for {name}")
    frames = values[:, 0].astype(np.int64) + offset
    if np.any(np.diff(frames) <= 0):
        return problem(key, name, source, "unreadable",
                       f"frame numbers are not increasing for {name}")
    return Trajectory(key, name, frames, np.ascontiguousarray(values[:, 1:]), pixel_size,
                      str(source), NAME, total, extras)


def _stdout(text: str, source: Path, default_pixel: float | None) -> list[Trajectory | Problem]:
    lines = text.splitlines()
    params: dict[str, str] = {}
    for line in lines[:200]:
        match = _PARAM.match(line)
        if match:
            params.setdefault(match.group(1), match.group(2))
    pixel_size = _float(params.get("PixSize")) or default_pixel
    throw = bounded_int(params.get("Throw") or 0, "-Throw", 0, MAX_FRAMES)
    trunc = bounded_int(params.get("Trunc") or 0, "-Trunc", 0, MAX_FRAMES)
    inputs = [params[k] for k in ("InMrc", "InTiff", "InEer") if k in params]
    single_input = next((p for p in inputs if Path(p).suffix), None)
    blocks: list[tuple[list, str | None, str]] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        rows: list[tuple[str, ...]] = []
        layout = None
        if line == "Full-frame alignment shift":
            layout = "1.5"
            i += 1
            while i < len(lines) and (match := _FRAME_15.search(lines[i])):
                rows.append(match.groups())
                i += 1
        elif line == "Full-frame alignment" and i + 1 < len(lines) and "x Shift" in lines[i + 1]:
            layout = "1.6"
            i += 2
            while i < len(lines) and (match := _ROW.match(lines[i])):
                rows.append(match.groups())
                i += 1
        else:
            i += 1
            continue
        saved = None
        for j in range(i, min(i + 400, len(lines))):
            if "Full-frame alignment" in lines[j]:
                break
            if lines[j].strip() == "Corrected sum has been saved in:" and j + 1 < len(lines):
                saved = lines[j + 1].strip()
                break
        blocks.append((rows, saved, layout))
    if not blocks:
        return [problem(movie_key(source.name), source.name, source, "unreadable",
                        "no full-frame alignment table (still running, or failed)")]
    out = []
    for rows, saved, layout in blocks:
        name = single_input if len(blocks) == 1 and single_input else saved or source.name
        out.append(_trajectory(name, rows, source, throw, pixel_size,
                               {"layout": layout, "throw": throw},
                               throw + len(rows) + trunc if rows else None))
    return out


# MotionCor2 ≤ 1.4.5 named logs "<-LogFile prefix>0-Patch-Full.log" (a stack index "0" after
# the prefix); ≥ 1.4.6 "<movie>-Patch-Full.log". A movie may itself end in 0 (EPU timestamps), so
# the name keeps the 0 and the key without it is only an alternative for pairing.
_OLD_STYLE_LOG = re.compile(r"^(.+?)_?0-(?:Patch-)?Full\.log$")


def _log(text: str, source: Path, pixel_size: float | None) -> Trajectory | Problem:
    rows = [m.groups() for line in text.splitlines()
            if not line.lstrip().startswith("#") and (m := _ROW.match(line))]
    extras: dict[str, Any] = {"layout": "log"}
    old_style = _OLD_STYLE_LOG.match(source.name)
    if old_style:
        extras["alternate_key"] = movie_key(old_style.group(1))
    return _trajectory(source.name, rows, source, 0, pixel_size, extras)


def _aln(text: str, source: Path, pixel_size: float | None) -> Trajectory | Problem:
    rows = []
    inside = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("globalShift"):
            inside = True
            continue
        if not inside or stripped.startswith(("stackID", "#")) or not stripped:
            continue
        match = _ROW.match(line)
        if not match:
            break
        rows.append(match.groups())
    # .aln numbers frames from 0.
    return _trajectory(source.name, rows, source, 1, pixel_size, {"layout": "aln"})


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None

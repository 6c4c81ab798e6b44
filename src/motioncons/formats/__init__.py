"""Readers: one module per program, each converting to the canonical convention (DESIGN §3).

`read_input(path)` detects the format and returns a `TrajectorySet`.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..trajectory import TrajectorySet
from . import cistem, cryosparc, imod, motioncor, relion, scipion, table, warp, xmipp

READERS = (relion, motioncor, scipion, cryosparc, warp, xmipp, imod, cistem, table)


def detect(path: Path) -> str | None:
    for reader in READERS:
        if reader.detect(path):
            return reader.NAME
    return None


def read_input(path: str | Path, pixel_size: float | None = None) -> TrajectorySet:
    """Read one motion-correction result (file or directory) into a TrajectorySet."""
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file or directory")
    for reader in READERS:
        if reader.detect(p):
            return reader.read(p, pixel_size=pixel_size)
    raise InputError(p, "not a recognised motion-correction result (expected a RELION MotionCorr "
                        "job directory, corrected_micrographs.star, a directory of per-movie STAR "
                        "files, MotionCor2/3 output, a Scipion SetOfMovies .sqlite, cryoSPARC "
                        ".cs exposures, Warp .xml, Xmipp _shifts.xmd, IMOD .xf, Unblur/cisTEM "
                        "shift files, or a CSV/TSV table with columns "
                        "movie,frame,x,y)")

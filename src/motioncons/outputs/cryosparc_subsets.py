"""cryoSPARC reference: the exposures split into ``.cs`` subsets, same dtype and ``uid``s.

A ``.cs`` written here is not registered in a project: bring it in with an External job
(cryosparc-tools) or an "Import Result Group" (see README).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..matching import movie_key
from ..records import Row
from .atomic import write_bytes


def write_cryosparc_subsets(out_dir: Path, exposures: np.ndarray,
                            decided: dict[str, Row]) -> list[str]:
    names = exposures.dtype.names or ()
    column = "movie_blob/path" if "movie_blob/path" in names else "rigid_motion/path"
    keys = [movie_key(v.decode() if isinstance(v, bytes) else str(v))
            for v in exposures[column]]
    written = []
    for accepted, label in ((True, "accepted"), (False, "rejected")):
        mask = np.array([k in decided and decided[k].accepted == accepted for k in keys],
                        dtype=bool)
        buffer = io.BytesIO()
        np.save(buffer, exposures[mask], allow_pickle=False)
        path = out_dir / f"exposures_{label}.cs"
        write_bytes(path, buffer.getvalue())
        written.append(path.name)
    return written

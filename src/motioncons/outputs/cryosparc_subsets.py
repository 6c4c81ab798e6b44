"""cryoSPARC reference: the exposures split into ``.cs`` subsets, same container, dtype, ``uid``s.

A ``.cs`` written here is not registered in a project: bring it in with an External job
(cryosparc-tools) or an "Import Result Group" (see docs/integrations.md). A CSDAT reference
gives CSDAT subsets, written by cryosparc-tools in a child process (see ``formats.csdat``).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..formats import csdat
from ..formats.cryosparc import CryosparcExposures
from ..records import Row
from .atomic import temporary_path, write_bytes


def write_cryosparc_subsets(out_dir: Path, exposures: CryosparcExposures,
                            decided: dict[str, Row]) -> list[str]:
    written = []
    for accepted, label in ((True, "accepted"), (False, "rejected")):
        mask = np.array([k in decided and decided[k].accepted == accepted
                         for k in exposures.row_keys], dtype=bool)
        path = out_dir / f"exposures_{label}.cs"
        if exposures.container == "csdat":
            with temporary_path(path) as temporary:
                csdat.write_subset(Path(exposures.path), temporary, np.flatnonzero(mask))
        else:
            buffer = io.BytesIO()
            np.save(buffer, exposures.records[mask], allow_pickle=False)
            write_bytes(path, buffer.getvalue())
        written.append(path.name)
    return written

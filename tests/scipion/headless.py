"""The environment a headless Scipion needs (``../shared/reference/scipion_headless.md``), set
before pyworkflow is imported: its home and user data under `root`, and the test suite's
producer plugin on PYTHONPATH, where the protocol-run processes find it too."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PRODUCER_PLUGIN = Path(__file__).resolve().parent / "producer_plugin"


def configure(root: Path) -> None:
    config = root / "home" / "config"
    config.mkdir(parents=True)
    (config / "scipion.conf").write_text("[PYWORKFLOW]\n")
    (config / "hosts.conf").write_text(
        "[localhost]\nPARALLEL_COMMAND = mpirun -np %_(JOB_NODES)d %_(COMMAND)s\n")
    os.environ.update({
        "SCIPION_HOME": str(root / "home"),
        "SCIPION_USER_DATA": str(root / "data"),
        "SCIPION_DOMAIN": "pwem",
        "SCIPION_NOTIFY": "False",
        "MPLBACKEND": "Agg",
        "SCIPION_PYTHON": sys.executable,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PRODUCER_PLUGIN),
                                                    os.environ.get("PYTHONPATH")])),
    })
    sys.path.insert(0, str(PRODUCER_PLUGIN))

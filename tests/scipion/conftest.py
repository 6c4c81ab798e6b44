"""Scipion 3 headless, for the plugin's tests (``../shared/reference/scipion_headless.md``).

These tests need pyworkflow and pwem (``pip install -e ".[scipion]"``, in a virtual environment
of their own: Scipion pins numpy, scipy and matplotlib); the test command runs them in
``.venv-scipion``. Without pyworkflow they are not collected. The environment a headless
Scipion needs is set here, before pyworkflow is imported, with its home and user data in a
temporary folder removed at the end; the test suite's producer plugin is put on PYTHONPATH,
where the protocol-run processes find it too.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

PRODUCER_PLUGIN = Path(__file__).resolve().parent / "producer_plugin"

if importlib.util.find_spec("pyworkflow") is None:
    collect_ignore_glob = ["test_*.py"]
    _SCIPION_ROOT = None
else:
    _SCIPION_ROOT = Path(tempfile.mkdtemp(prefix="motioncons-scipion-"))
    (_SCIPION_ROOT / "home" / "config").mkdir(parents=True)
    (_SCIPION_ROOT / "home" / "config" / "scipion.conf").write_text("[PYWORKFLOW]\n")
    (_SCIPION_ROOT / "home" / "config" / "hosts.conf").write_text(
        "[localhost]\nPARALLEL_COMMAND = mpirun -np %_(JOB_NODES)d %_(COMMAND)s\n")
    os.environ.update({
        "SCIPION_HOME": str(_SCIPION_ROOT / "home"),
        "SCIPION_USER_DATA": str(_SCIPION_ROOT / "data"),
        "SCIPION_DOMAIN": "pwem",
        "SCIPION_NOTIFY": "False",
        "MPLBACKEND": "Agg",
        "SCIPION_PYTHON": sys.executable,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PRODUCER_PLUGIN),
                                                    os.environ.get("PYTHONPATH")])),
    })
    sys.path.insert(0, str(PRODUCER_PLUGIN))


@pytest.fixture(autouse=True)
def _stop_protocols():
    """A test works inside its project's folder; it leaves no protocol running."""
    cwd = os.getcwd()
    yield
    os.chdir(cwd)
    if _SCIPION_ROOT is not None:
        from .plugin_helpers import stop_launched

        stop_launched()


@pytest.fixture(scope="session", autouse=True)
def _remove_scipion_root():
    yield
    if _SCIPION_ROOT is not None:
        shutil.rmtree(_SCIPION_ROOT, ignore_errors=True)

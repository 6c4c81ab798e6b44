"""Scipion 3 headless, for the plugin's tests.

These tests need pyworkflow and pwem (``pip install -e ".[scipion]"``, in a virtual environment
of their own: Scipion pins numpy, scipy and matplotlib); the test command runs them in
``.venv-scipion``. Without pyworkflow they are not collected. Scipion's home and user data are
in a temporary folder, removed at the end.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from .headless import configure

if importlib.util.find_spec("pyworkflow") is None:
    collect_ignore_glob = ["test_*.py"]
    _SCIPION_ROOT = None
else:
    _SCIPION_ROOT = Path(tempfile.mkdtemp(prefix="motioncons-scipion-"))
    configure(_SCIPION_ROOT)


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

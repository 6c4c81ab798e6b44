"""Shared fixtures. Real sample files are read from ../shared/samples, never copied here."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="motioncons-hypothesis-")
try:  # hypothesis keeps its caches in a temporary folder, not the checkout (removed at the end)
    from hypothesis import settings as _hypothesis_settings
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(_HYPOTHESIS_HOME)
    _hypothesis_settings.register_profile("suite", database=None)
    _hypothesis_settings.load_profile("suite")
except ImportError:
    pass

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOTIONCONS_SHARED", ROOT.parent / "shared"))
SAMPLES = SHARED / "samples"
REFERENCE = SHARED / "reference"


def _require(path: Path) -> Path:
    if not path.exists():
        message = f"shared material not found at {path} (set MOTIONCONS_SHARED)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def samples() -> Path:
    return _require(SAMPLES)


@pytest.fixture
def reference_material() -> Path:
    return _require(REFERENCE)


@pytest.fixture
def relion31(samples: Path) -> Path:
    return samples / "relion_own" / "relion3.1_dials-data-files"


@pytest.fixture
def relion5(samples: Path) -> Path:
    return samples / "relion_own" / "relion5_Conecsion-sppractice"


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind():
    """Every process the suite starts carries a marker; none may outlive the suite."""
    from .processes import MARKER, wait_until_gone

    value = f"suite-{os.getpid()}"
    os.environ[MARKER] = value
    yield
    shutil.rmtree(_HYPOTHESIS_HOME, ignore_errors=True)
    if not Path("/proc").is_dir():
        return
    left = wait_until_gone(value, 10.0)
    assert not left, f"processes left running by the test suite: {left[:5]}"


@pytest.fixture(params=["isal", "zlib"])
def deflate_library(request, monkeypatch):
    """The test with Intel's ISA-L deflate, and again with zlib, its fallback."""
    from motioncons import deflate

    if request.param == "zlib":
        monkeypatch.setattr(deflate, "isal_zlib", None)
    elif deflate.isal_zlib is None:
        pytest.skip("isal is not installed")
    return request.param


def _compiled_or_python(request, monkeypatch, owner, attribute: str, built: str) -> str:
    """The test with a compiled module (`owner.attribute`), or again with it set to None (its
    Python fallback). The compiled one must have been built: CI installs with a C compiler."""
    if request.param == "python":
        monkeypatch.setattr(owner, attribute, None)
    elif getattr(owner, attribute) is None and not os.environ.get("MOTIONCONS_PURE_PYTHON"):
        pytest.fail(f"the compiled module was not built ({built})")
    elif getattr(owner, attribute) is None:
        pytest.skip("MOTIONCONS_PURE_PYTHON is set")
    return request.param


@pytest.fixture(params=["compiled", "python"])
def row_parser(request, monkeypatch):
    """The test with the compiled part of the bulk RELION reader, and again with its Python
    and numpy fallback."""
    from motioncons.formats import compiled

    return _compiled_or_python(request, monkeypatch, compiled, "MODULE",
                               "motioncons.formats._relion_rows")


@pytest.fixture(params=["compiled", "python"])
def number_formatter(request, monkeypatch):
    """The test with the compiled formatter of columns of floats, and again with its Python
    fallback."""
    from motioncons.outputs import numbers

    return _compiled_or_python(request, monkeypatch, numbers, "COMPILED",
                               "motioncons.outputs._numbers")


@pytest.fixture(params=["compiled", "python"])
def canvas_steps(request, monkeypatch):
    """The test with the compiled drawing steps of the overlays, and again with their numpy
    fallback."""
    from motioncons.figures import canvas

    return _compiled_or_python(request, monkeypatch, canvas, "COMPILED",
                               "motioncons.figures._canvas")


@pytest.fixture(params=["compiled", "python"])
def overlay_encoder(request, monkeypatch):
    """The test with the compiled encoder of the report's trajectories, and again with its
    numpy one."""
    from motioncons.figures import overlay_codec

    return _compiled_or_python(request, monkeypatch, overlay_codec, "COMPILED",
                               "motioncons.figures._overlay_codec")

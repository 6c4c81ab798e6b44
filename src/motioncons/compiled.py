"""The optional compiled modules, where they were built.

They are built at install where a C compiler is found (``setup.py``, ``optional=True``);
without them motioncons does the same in Python and numpy, to the same results, more slowly.
The environment variable ``MOTIONCONS_PURE_PYTHON`` turns them all off. The tests run each
compiled step both ways and compare them.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def optional_module(name: str) -> ModuleType | None:
    """The compiled module `name` (``motioncons.formats._relion_rows``), or None where it was
    not built or ``MOTIONCONS_PURE_PYTHON`` is set."""
    if os.environ.get("MOTIONCONS_PURE_PYTHON"):
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None

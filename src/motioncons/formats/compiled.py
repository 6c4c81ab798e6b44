"""The compiled part of the bulk RELION reader (``_relion_rows.c``), where it was built.

It is optional: it is built at install where a C compiler is found (``setup.py``), and
without it `relion_batch` and `fixed_columns` do the same in Python and numpy, to the same
results, at about twice the cost a file (15 against 26-31 µs in a worker). The environment
variable ``MOTIONCONS_PURE_PYTHON`` turns it off. The tests run the reader both ways and
compare them.
"""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("MOTIONCONS_PURE_PYTHON"):
        return None
    try:
        from . import _relion_rows
    except ImportError:
        return None
    return _relion_rows


MODULE = _load()
"""The compiled module (`parse_rows`, `cut_as`), or None."""

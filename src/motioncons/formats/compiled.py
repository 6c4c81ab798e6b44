"""The compiled part of the bulk RELION reader (``_relion_rows.c``), where it was built.

It is optional (`motioncons.compiled`): without it `relion_batch` and `fixed_columns` do the
same in Python and numpy, to the same results, at about twice the cost a file (15 against
26-31 µs in a worker).
"""

from __future__ import annotations

from ..compiled import optional_module

MODULE = optional_module("motioncons.formats._relion_rows")
"""The compiled module (`parse_rows`, `cut_as`), or None."""

"""The C allocator's settings for a command-line process (glibc; elsewhere nothing changes).

glibc serves a large block (128 KiB and up, at first) from its own memory mapping, returned to
the system when freed, but it raises that threshold to the size of each such block freed. After
the first chunk of shifts is freed, a run's large temporary arrays (chunks of shifts, stacked
pairs, pickled results from the readers) come from the heap instead, and the holes they leave
between longer-lived blocks stay resident. Fixing the threshold keeps it where it started: the
peak of a 50,000-movie core run is about 17 MB lower, a 200,000-movie one about 35 MB, at the
same speed (benchmarks/bench_scale.py).

Only the command line calls `tune`: a library does not change its host process's allocator.
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter (malloc.h); setting it also stops its dynamic adjustment."""
MMAP_THRESHOLD = 128 * 1024
"""glibc's own starting value."""


def tune() -> bool:
    """Fix glibc's mmap threshold for this process and the workers it forks; False where the
    C library is not glibc (the setting is then left alone)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # musl also has a mallopt, which ignores it
            return False
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False

"""The C allocator's settings for a command-line process (glibc; elsewhere nothing changes).

glibc serves a large block (128 KiB and up, at first) from its own memory mapping, returned to
the system when freed, but it raises that threshold to the size of each such block freed. After
the first chunk of shifts is freed, a run's large temporary arrays (chunks of shifts, stacked
pairs, pickled results from the readers) come from the heap instead, and the holes they leave
between longer-lived blocks stay resident. Fixing the threshold keeps the largest of them
mapped: the peak of a 200,000-movie core run is about 35 MB lower than with glibc's own
adjustment (benchmarks/bench_scale.py). It is fixed at 2 MiB, not at glibc's starting
128 KiB: a run's many temporaries of a few hundred KiB (a batch of 1,024 stacked pairs, a
chunk read) then reuse the heap instead of a new mapping each, whose every page is a fault
when first touched (a 50,000-movie core run: 350,000 → 150,000 page faults in the main
process, 1.0 → 0.5 s of system time, peak 156 → 165–189 MB). Fixing it also fixes the
threshold above which freed memory at the top of the heap is returned, which is set to keep
numpy's temporaries as fast as before.

Only the command line calls `tune`: a library does not change its host process's allocator.
`release_free`, which changes no setting and gives back only what is free, is called between
a run's steps.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameters (malloc.h); setting one stops the dynamic adjustment of
both."""
MMAP_THRESHOLD = 2 * 1024 * 1024
"""Blocks from this size up are mapped (see the module's docstring)."""
TRIM_THRESHOLD = 32 * 1024 * 1024
"""Free memory kept at the top of the heap: left at its starting 128 KiB, the heap would be
shrunk and grown again around every temporary array (page faults: numpy work twice as slow).
glibc's own adjustment keeps up to 64 MiB."""
WORKER_MMAP_THRESHOLD = 4 * 1024 * 1024
"""In a worker process (it holds no dataset, so the lower threshold that keeps the peak of the
process that does down only costs it page faults): a chunk's buffers, read, come from the
heap, not from a mapping each, made and unmapped every time."""

_tuned = False
"""Whether `tune` fixed the thresholds in this process (or the one that forked it)."""


def tune() -> bool:
    """Fix glibc's mmap threshold for this process and the workers it forks; False where the
    C library is not glibc (the setting is then left alone)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # musl also has a mallopt, which ignores it
            return False
        tuned = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
            bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False
    global _tuned
    _tuned = tuned
    return tuned


def for_worker() -> bool:
    """In a worker process, raise the mmap threshold fixed by `tune` to
    `WORKER_MMAP_THRESHOLD`. Where `tune` was not called, nothing changes: False."""
    if not _tuned:
        return False
    return bool(ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, WORKER_MMAP_THRESHOLD))


def release_free() -> bool:
    """Give the system back the pages of the C heap's free memory (glibc's ``malloc_trim``),
    wherever it lies in the heap; False where the C library is not glibc (nothing is done).

    Freeing gives back only the top of the heap. Memory freed below live blocks (numpy's
    temporaries under the mmap threshold, the readers' chunks) stays resident, and Python's
    own objects (rows, floats), which come from mappings of their own, never reuse it: the
    rows of 200,000 movies made after deciding's temporaries were freed took 479-552 MB at
    the run's peak, 487-489 MB with them given back first (`evaluation.decide_comparison`)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):
            return False
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True

"""The command line fixes glibc's mmap threshold (a large block freed no longer sends the next
ones to the heap, where their holes would stay resident) and its trim threshold (freed
temporaries keep their heap)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from motioncons import allocator, cli

_LIBC = """
import ctypes, sys
from motioncons import allocator

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2
"""

_MAPPED_PROBE = _LIBC + """
libc.free(libc.malloc(8 << 20))  # glibc would now keep blocks below 8 MiB in the heap
if sys.argv[1] == "tuned":
    assert allocator.tune()
before = libc.mallinfo2().hblks
block = libc.malloc(3 << 20)  # above the tuned threshold, below the 8 MiB glibc set
print(libc.mallinfo2().hblks - before)
libc.free(block)
"""

_TRIM_PROBE = _LIBC + """
if sys.argv[1] == "tuned":
    assert allocator.tune()
else:
    libc.mallopt(allocator.M_MMAP_THRESHOLD, allocator.MMAP_THRESHOLD)  # the mmap one only
before = libc.mallinfo2().arena  # the heap as the imports left it
blocks = [libc.malloc(64 << 10) for _ in range(128)]  # 8 MiB more of heap
for block in reversed(blocks):
    libc.free(block)
print(int(libc.mallinfo2().arena - before >= 4 << 20))  # the growth kept, or given back
"""


_WORKER_PROBE = _LIBC + """
if sys.argv[1] != "untuned":
    assert allocator.tune()
libc.free(libc.malloc(8 << 20))
worker = allocator.for_worker() if sys.argv[1] != "tuned only" else False
before = libc.mallinfo2().hblks
block = libc.malloc(3 << 20)  # above the tuned threshold, below a worker's
print(int(worker), libc.mallinfo2().hblks - before)
libc.free(block)
"""


def _glibc_with_mallinfo2() -> bool:
    import ctypes

    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return False
    return hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallinfo2")


def _probe(code: str, mode: str) -> str:
    return subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.skipif(not _glibc_with_mallinfo2(), reason="glibc 2.33+ only")
@pytest.mark.parametrize(("mode", "mapped"), [("tuned", "1"), ("default", "0")])
def test_a_large_block_is_mapped_only_once_tuned(mode, mapped):
    assert _probe(_MAPPED_PROBE, mode) == mapped


@pytest.mark.skipif(not _glibc_with_mallinfo2(), reason="glibc 2.33+ only")
@pytest.mark.parametrize(("mode", "kept"), [("tuned", "1"), ("mmap threshold only", "0")])
def test_freed_temporaries_keep_their_heap_once_tuned(mode, kept):
    assert _probe(_TRIM_PROBE, mode) == kept


@pytest.mark.skipif(not _glibc_with_mallinfo2(), reason="glibc 2.33+ only")
@pytest.mark.parametrize(("mode", "printed"), [("tuned", "1 0"), ("tuned only", "0 1"),
                                               ("untuned", "0 0")])
def test_a_worker_takes_chunk_sized_blocks_from_the_heap(mode, printed):
    """Tuned, then set as a worker: a 3 MiB block is not mapped. Tuned only: it is. Never
    tuned (a library's host): `for_worker` changes nothing, glibc's own adjustment applies."""
    assert _probe(_WORKER_PROBE, mode) == printed


_RELEASE_PROBE = _LIBC + """
def resident():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096

assert allocator.tune()  # 64 KiB blocks from the heap
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
blocks = [libc.malloc(64 << 10) for _ in range(512)]  # 32 MiB, touched
for block in blocks:
    libc.memset(block, 1, 64 << 10)
for block in blocks[:-1]:  # freed below the last one: not the top of the heap
    libc.free(block)
before = resident()
released = allocator.release_free() if sys.argv[1] == "released" else None
print(released, int(before - resident() >= 16 << 20))
"""


@pytest.mark.skipif(not _glibc_with_mallinfo2(), reason="glibc 2.33+ only")
@pytest.mark.parametrize(("mode", "printed"), [("released", "True 1"), ("kept", "None 0")])
def test_free_memory_below_a_live_block_is_given_back_only_when_released(mode, printed):
    assert _probe(_RELEASE_PROBE, mode) == printed


def test_tune_and_release_are_no_ops_off_linux(monkeypatch):
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.tune() is False
    assert allocator.release_free() is False


def test_the_command_line_tunes_before_running(monkeypatch):
    calls = []
    monkeypatch.setattr(allocator, "tune", lambda: calls.append(1) or True)
    assert cli.main(["inspect", "/nonexistent/input"]) != 0
    assert calls == [1]


def test_the_probes_block_lies_between_the_thresholds():
    """The probes above take a 3 MiB block: mapped by the command line's threshold, not by a
    worker's, nor by glibc's after an 8 MiB block was freed."""
    assert allocator.MMAP_THRESHOLD <= 3 << 20 < allocator.WORKER_MMAP_THRESHOLD < 8 << 20


def test_a_run_gives_back_free_memory_after_pairing_and_before_the_rows(relion31, relion5,
                                                                         tmp_path, monkeypatch):
    from motioncons.pipeline import Options, run

    calls = []
    monkeypatch.setattr(allocator, "release_free", lambda: calls.append(1) or True)
    run(relion31, relion5, tmp_path / "out", Options(plots="none", report=False))
    assert len(calls) == 2

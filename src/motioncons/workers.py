"""Worker process pools that never outlive the process that started them.

A pool worker must die with its parent on every path: a normal exit, an exception, a signal,
and SIGKILL, which no handler in the parent can see. On Linux each worker asks the kernel for
SIGKILL when its parent dies (``PR_SET_PDEATHSIG``); elsewhere a thread in each worker watches
for its parent to go away. Workers ignore SIGINT and SIGTERM so that the parent decides how a
run stops; when the parent leaves the pool by an exception, tasks not started are dropped.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection

from . import allocator
from .errors import MotionconsError

_PR_SET_PDEATHSIG = 1


def _start_worker(parent: int) -> None:
    _die_with_parent(parent)
    allocator.for_worker()


def _die_with_parent(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    """A pool of `workers` forked processes (`allocator.for_worker` set in each), or None where
    fork is not available."""
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        yield None
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_start_worker, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        # Tasks not started are dropped; running ones finish (each cleans up after itself, so
        # no half-written file is left), which takes at most one task's time.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_task(task: Callable[[], object], send: Connection, parent: int) -> None:
    _die_with_parent(parent)
    _report(task, send)


def _report(task: Callable[[], object], send: Connection) -> None:
    """Run `task` and send its outcome: None, or its exception (its message where it does not
    pickle), which the parent raises."""
    try:
        task()
        outcome: BaseException | None = None
    except BaseException as exc:
        outcome = exc
    try:
        send.send(outcome)
    except Exception:
        send.send(MotionconsError(str(outcome)))


def _outcome(receive: Connection, process: multiprocessing.process.BaseProcess
             ) -> BaseException | None:
    """Wait for the task's process; its exception, or None when it succeeded."""
    try:
        outcome = receive.recv()
    except EOFError:
        outcome = None
    process.join()
    receive.close()
    if outcome is None and process.exitcode != 0:
        return MotionconsError(f"a writer process ended with exit code {process.exitcode}")
    return outcome


def _waiter(receive: Connection, process: multiprocessing.process.BaseProcess,
            outcome: list[BaseException | None]) -> Callable[[], None]:
    """What waits for the task's process there (once; its outcome kept in `outcome`) and
    raises its exception, if any."""
    def finish() -> None:
        if not outcome:
            outcome.append(_outcome(receive, process))
        if outcome[0] is not None:
            raise outcome[0]

    return finish


@contextlib.contextmanager
def alongside(task: Callable[[], object],
              enabled: bool = True) -> Iterator[Callable[[], None]]:
    """Run `task` in a forked process while the body of the ``with`` runs (the second core
    writes one output while this process writes the others), wait for it at the end and
    raise its exception, if any; an exception of the body wins. The body is given a function
    that waits for the task there (and raises its exception): for what must not be written
    before the task's output is in place. Without `enabled` (or fork), `task` runs here
    first. Fork only where this process has no other thread."""
    if not enabled or "fork" not in multiprocessing.get_all_start_methods():
        task()
        yield lambda: None
        return
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_run_task, args=(task, send, os.getpid()), daemon=True)
    process.start()
    send.close()
    outcome: list[BaseException | None] = []
    finish = _waiter(receive, process, outcome)
    try:
        yield finish
    except BaseException:
        if not outcome:
            _outcome(receive, process)
        raise
    finish()

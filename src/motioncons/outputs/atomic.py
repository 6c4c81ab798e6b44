"""Atomic file writes: a reader sees either the old file or the complete new one, never a part.

Every file motioncons writes goes through here. A temporary file with a short name
(``.mc-XXXXXXXX.tmp``, so that even a 255-character target name fits) is written in the target's
directory, flushed, and renamed over the target. A failure (read-only folder, full disk, a path
under a file) removes the temporary file and raises `OutputError` naming the path.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import OutputError

TEMPORARY_PREFIX = ".mc-"
TEMPORARY_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()


def ensure_directory(path: str | Path) -> Path:
    directory = Path(path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(directory, exc) from exc
    if not directory.is_dir():
        raise OutputError(directory, "not a directory")
    return directory


@contextlib.contextmanager
def temporary_path(path: str | Path, durable: bool = True) -> Iterator[Path]:
    """A temporary path beside `path`; whatever is written there replaces `path` at the end.

    `durable` flushes the data to disk before the rename, so that even a power cut leaves the
    old or the new file; files that can be drawn again (plots) skip it: a kill of the process
    still never leaves a partial file, and thousands of flushes cost seconds."""
    target = Path(path)
    ensure_directory(target.parent)
    temporary = target.parent / _temporary_name()
    with _removed_on_failure(temporary, target):
        yield temporary
        if durable:
            with open(temporary, "rb+") as stream:
                os.fsync(stream.fileno())
        os.chmod(temporary, _MODE)
        os.replace(temporary, target)


def _temporary_name() -> str:
    return f"{TEMPORARY_PREFIX}{os.urandom(4).hex()}{TEMPORARY_SUFFIX}"


@contextlib.contextmanager
def _removed_on_failure(temporary: str | Path, target: str | Path) -> Iterator[None]:
    """On any failure of the block, the temporary file is removed; an `OSError` becomes an
    `OutputError` naming the target."""
    try:
        yield
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise OutputError(Path(target), exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | Path, data: bytes, durable: bool = True) -> None:
    """`data` written atomically; without `durable`, by the fewest system calls (a folder of
    thousands of plots: its directory is made only when missing, and no chmod is needed for a
    file that ``os.open`` creates with the umask applied)."""
    if durable:
        with temporary_path(path) as temporary, open(temporary, "wb") as stream:
            stream.write(data)
        return
    target = os.fspath(path)
    folder = os.path.dirname(target) or "."
    partial = os.path.join(folder, _temporary_name())
    with _removed_on_failure(partial, target):
        try:
            handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileNotFoundError:
            ensure_directory(folder)
            handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(handle, view):]
        finally:
            os.close(handle)
        os.replace(partial, target)


def write_pieces(path: str | Path, pieces: Iterable[str]) -> None:
    """UTF-8 text written piece by piece (never all of it in memory), atomically."""
    with temporary_path(path) as temporary, open(temporary, "w", encoding="utf-8",
                                                 newline="") as stream:
        for piece in pieces:
            stream.write(piece)


def clean_temporary_files(directory: Path) -> int:
    """Remove what an atomic write killed half-way left behind, here and in ``plots/``."""
    removed = 0
    for folder in (directory, directory / "plots"):
        for pattern in (f"{TEMPORARY_PREFIX}*{TEMPORARY_SUFFIX}", ".*.tmp"):
            for path in folder.glob(pattern):
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += 1
    return removed

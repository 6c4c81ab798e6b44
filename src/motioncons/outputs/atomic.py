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
def _removed_on_failure(temporary: str | Path | None, target: str | Path) -> Iterator[None]:
    """On any failure of the block, the temporary file (if any) is removed; an `OSError`
    becomes an `OutputError` naming the target."""
    try:
        yield
    except OSError as exc:
        _remove(temporary)
        raise OutputError(Path(target), exc) from exc
    except BaseException:
        _remove(temporary)
        raise


def _remove(temporary: str | Path | None) -> None:
    if temporary is not None:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | Path, data: bytes, durable: bool = True) -> None:
    """`data` written atomically; without `durable`, by the fewest system calls (a folder of
    thousands of plots: its directory is made only when missing, and no chmod is needed for a
    file that ``os.open`` creates with the umask applied), into a file without a name first
    where the system allows (`_written_unnamed`)."""
    if durable:
        with temporary_path(path) as temporary, open(temporary, "wb") as stream:
            stream.write(data)
        return
    target = os.fspath(path)
    folder = os.path.dirname(target) or "."
    if _written_unnamed(folder, target, data):
        return
    partial = os.path.join(folder, _temporary_name())
    with _removed_on_failure(partial, target):
        try:
            handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileNotFoundError:
            ensure_directory(folder)
            handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            _write_all(handle, data)
        finally:
            os.close(handle)
        os.replace(partial, target)


_UNNAMED = getattr(os, "O_TMPFILE", 0)
_WITHOUT_UNNAMED: set[str] = set()
"""The folders where a file without a name could not be made (a file system without
``O_TMPFILE``: NFS, older kernels), not tried again."""


def _written_unnamed(folder: str, target: str, data: bytes) -> bool:
    """`data` written into a new file without a name in `folder` (Linux's ``O_TMPFILE``), which
    is then linked under the name `target`, or under a temporary name renamed over it when
    `target` exists; False, with nothing written, where no such file can be made (the caller
    then writes through a temporary name). The new file's inode is made without the folder's
    lock, which the other writers of the folder then do not wait for (on ext4 without a
    journal, making an inode searches the inodes deleted in the last minutes, one at a time:
    two overlay workers spun on the lock for a tenth of a default run's CPU time, by perf), and
    a process killed half-way leaves nothing behind."""
    if not _UNNAMED or folder in _WITHOUT_UNNAMED:
        return False
    try:
        handle = os.open(folder, os.O_WRONLY | _UNNAMED, 0o666)
    except FileNotFoundError:  # the caller makes the folder; its next file is made here
        return False
    except OSError:  # not supported there, or not writable: the caller says so
        _WITHOUT_UNNAMED.add(folder)
        return False
    try:
        place = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        os.close(handle)
        return False
    name = os.path.basename(target)
    try:
        with _removed_on_failure(None, target):
            _write_all(handle, data)
            # With a folder given, os.link calls linkat, which follows /proc's link to the file.
            unnamed = f"/proc/self/fd/{handle}"
            try:
                os.link(unnamed, name, src_dir_fd=place, dst_dir_fd=place)
            except FileExistsError:
                partial = _temporary_name()
                os.link(unnamed, partial, src_dir_fd=place, dst_dir_fd=place)
                with _removed_on_failure(os.path.join(folder, partial), target):
                    os.replace(partial, name, src_dir_fd=place, dst_dir_fd=place)
            except FileNotFoundError:  # no /proc: named files instead
                _WITHOUT_UNNAMED.add(folder)
                return False
    finally:
        os.close(place)
        os.close(handle)
    return True


def _write_all(handle: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(handle, view):]


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

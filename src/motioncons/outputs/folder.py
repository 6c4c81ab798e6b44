"""The output folder: one writer at a time, one run's outputs, nothing stale.

- `OutputFolder.lock()` takes an exclusive lock (``OUT/.motioncons.lock``) for the life of the
  process: a second ``run``, ``watch`` or External job pass on the same folder is refused. The
  kernel releases it when the process dies, however it dies.
- `claim()` records which run the folder belongs to (``OUT/.motioncons.json``: the mode and the
  two inputs). A folder holding another run's outputs is refused; ``--force`` removes them
  first. Re-running the same command replaces its outputs, and a ``watch`` resumes.
- `remove_stale()` deletes outputs of an earlier pass that this one did not write (subsets of
  another format, overlays of movies no longer drawn), after the new ones are in place.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from ..errors import MotionconsError, OutputError
from .atomic import clean_temporary_files, ensure_directory, write_text

LOCK_FILE = ".motioncons.lock"
OWNER_FILE = ".motioncons.json"
PLOTS = "plots"
STATE_FILES = ("motioncons_state.sqlite", "motioncons_state.sqlite-wal",
               "motioncons_state.sqlite-shm")
DECISION_FILES = ("consensus_data.npz",)
"""What ``decide`` re-decides from (kept by every pass, removed by --force)."""
OUTPUT_FILES = (
    "consensus.csv", "summary.json", "summary.png", "report.html", "logfile.pdf",
    "accepted_micrographs.star", "discarded_micrographs.star", "accepted_movies.star",
    "discarded_movies.star", "exposures_accepted.cs", "exposures_rejected.cs",
    "accepted_scipion_ids.txt", "discarded_scipion_ids.txt",
)
"""Every file a run may write (besides ``plots/`` and the state): what --force removes."""


class OutputFolder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock: int | None = None

    # ------------------------------------------------------------------ lock

    def lock(self) -> OutputFolder:
        ensure_directory(self.path)
        lock_path = self.path / LOCK_FILE
        try:
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputError(lock_path, exc) from exc
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform: proceed unlocked
            self._lock = descriptor
            return self
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(descriptor, 64).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise MotionconsError(
                f"{self.path}: another motioncons process (pid {holder}) is writing to this "
                "output folder; wait for it to finish or choose another output folder") from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        self._lock = descriptor
        clean_temporary_files(self.path)
        return self

    def unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> OutputFolder:
        return self.lock()

    def __exit__(self, *exc: object) -> None:
        self.unlock()

    # ------------------------------------------------------------------ ownership

    def _present(self) -> list[str]:
        names = [n for n in (*OUTPUT_FILES, *DECISION_FILES, *STATE_FILES)
                 if (self.path / n).exists()]
        if (self.path / PLOTS).is_dir():
            names.append(f"{PLOTS}/")
        return names

    def claim(self, mode: str, reference: str | Path, secondary: str | Path,
              force: bool = False) -> None:
        """Make the folder this run's, or refuse (one line) when it holds another run's."""
        owner = {"mode": mode, "inputs": [os.path.abspath(reference),
                                          os.path.abspath(secondary)]}
        present = self._present()
        if force:
            self.remove(present)
        elif present:
            stored = self._owner()
            if stored != owner:
                what = (f"{stored['mode']} of {stored['inputs'][0]} and {stored['inputs'][1]}"
                        if stored else "an earlier run")
                raise MotionconsError(
                    f"{self.path}: holds the outputs of another run ({what}: "
                    f"{', '.join(present[:4])}); choose another output folder or give --force "
                    "to replace them")
        write_text(self.path / OWNER_FILE, json.dumps(owner, indent=1) + "\n")

    def _owner(self) -> dict | None:
        try:
            data = json.loads((self.path / OWNER_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("inputs"), list) and \
            len(data["inputs"]) == 2 else None

    def remove(self, names: list[str]) -> None:
        for name in names:
            target = self.path / name.rstrip("/")
            try:
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
            except OSError as exc:
                raise OutputError(target, f"cannot remove: {exc.strerror or exc}") from exc

    def remove_stale(self, written: list[str], plots: set[str]) -> None:
        """Remove outputs that this pass did not write: files of `OUTPUT_FILES` not in `written`,
        and overlays in ``plots/`` not in `plots` (paths relative to the folder)."""
        for name in OUTPUT_FILES:
            if name not in written and name != "logfile.pdf":  # the External job's own
                with contextlib.suppress(FileNotFoundError):
                    (self.path / name).unlink()
        folder = self.path / PLOTS
        if not folder.is_dir():
            return
        for entry in os.scandir(folder):
            if entry.name.endswith(".png") and f"{PLOTS}/{entry.name}" not in plots:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty

"""cryoSPARC's compressed ``.cs`` container (CSDAT), handled by cryosparc-tools in a child process.

cryosparc-tools decodes CSDAT in native code, and a single flipped byte in a file can crash it
(a segmentation fault takes the whole process down, with no message). So the file is only ever
opened in a short-lived child process, with bounded memory and time: the parent gets a plain
numpy record array back (strings as fixed-width unicode, never pickles) or a one-line error.

Run as ``python -m motioncons.formats.csdat load FILE`` (the records, as ``.npy`` on standard
output) or ``... subset FILE OUT`` (row indices as ``.npy`` on standard input; writes the subset
as CSDAT to OUT).
"""

from __future__ import annotations

import io
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

from ..errors import InputError

MAGIC = b"\x95CSDAT"
TIMEOUT = 300.0
MEMORY_LIMIT = 8 << 30


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _child(args: list[str], path: Path, data: bytes = b"") -> bytes:
    try:
        import cryosparc.dataset  # noqa: F401
    except ImportError as exc:
        raise InputError(path, "a compressed (CSDAT) .cs file: pip install cryosparc-tools (or "
                               "\"motioncons[cryosparc]\") to read it") from exc
    try:
        done = subprocess.run([sys.executable, "-m", __name__, *args], input=data,
                              capture_output=True, timeout=TIMEOUT, preexec_fn=_limits,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise InputError(path, f"cryosparc-tools did not finish reading it in {TIMEOUT:g} s "
                               "(corrupt file?)") from exc
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
        how = (f"crashed (signal {-done.returncode})" if done.returncode < 0
               else f"failed: {last[:300]}")
        raise InputError(path, f"corrupt CSDAT .cs file: cryosparc-tools {how}")
    return done.stdout


def load(path: Path) -> np.ndarray:
    """The records of a CSDAT file, strings as fixed-width unicode."""
    return np.load(io.BytesIO(_child(["load", str(path)], path)), allow_pickle=False)


def write_subset(source: Path, target: Path, rows: np.ndarray) -> None:
    """Write the rows `rows` (indices) of the CSDAT file `source` to `target` as CSDAT."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(rows, dtype=np.int64), allow_pickle=False)
    _child(["subset", str(source), str(target)], source, buffer.getvalue())


def _plain(records: np.ndarray) -> np.ndarray:
    fields = []
    columns = []
    for name in records.dtype.names or ():
        column = records[name]
        if column.dtype == object:
            column = np.array([v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                               for v in column], dtype=str)
            if column.size == 0:
                column = column.astype("U1")
        fields.append((name, column.dtype, column.shape[1:]))
        columns.append(column)
    out = np.empty(len(records), dtype=[(n, d, s) for n, d, s in fields])
    for (name, _, _), column in zip(fields, columns, strict=True):
        out[name] = column
    return out


def main(argv: list[str]) -> int:
    from cryosparc.dataset import CSDAT_FORMAT, Dataset

    command, path = argv[0], argv[1]
    dataset = Dataset.load(path)
    if command == "load":
        np.save(sys.stdout.buffer, _plain(dataset.to_records()), allow_pickle=False)
        return 0
    rows = np.load(io.BytesIO(sys.stdin.buffer.read()), allow_pickle=False)
    mask = np.zeros(len(dataset), dtype=bool)
    mask[rows] = True
    dataset.mask(mask).save(argv[2], format=CSDAT_FORMAT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A benchmark's working directory: the one given (kept afterwards) or a temporary one."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch(given: Path | None, prefix: str) -> Iterator[Path]:
    path = given or Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if given is None:
            shutil.rmtree(path, ignore_errors=True)

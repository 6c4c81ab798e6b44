"""Finding processes a test (or the whole suite) started, by a marker in their environment.

Orphans are re-parented to init, so a parent-child walk cannot find them; every process the
suite starts inherits the marker variable, and /proc shows who still carries it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

MARKER = "MOTIONCONS_TEST_MARK"


def marked(value: str) -> list[tuple[int, str]]:
    """Live processes (other than this one) whose environment has MARKER=value."""
    needle = f"{MARKER}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:
            continue
        if state != "Z":
            found.append((int(entry.name), command.strip()))
    return found


def wait_until_gone(value: str, seconds: float = 5.0) -> list[tuple[int, str]]:
    """The marked processes still alive after up to `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        left = marked(value)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)

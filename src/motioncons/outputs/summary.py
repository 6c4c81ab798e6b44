"""``summary.json``: parameters, counts, the convention estimate, warnings, versions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..records import json_ready
from .atomic import write_text


def write_summary(path: str | Path, summary: Mapping[str, Any]) -> None:
    write_text(path, json.dumps(json_ready(summary), indent=2, sort_keys=False) + "\n")

"""``summary.json``: parameters, counts, the convention estimate, warnings, versions."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .atomic import write_text


def _clean(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_summary(path: str | Path, summary: dict[str, Any]) -> None:
    write_text(path, json.dumps(_clean(summary), indent=2, sort_keys=False) + "\n")

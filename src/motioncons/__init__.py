"""motioncons: movie alignment consensus for cryo-EM.

The public API (see docs/python.md):

- `compare` reads two motion-correction results, pairs and decides every movie, in memory,
  and returns a `Result` (`Result.write` writes what ``motioncons run`` writes);
- `read` reads one result into trajectories in the canonical convention;
- `decide` re-decides an output folder with other thresholds, without reading the inputs;
- `Watcher` and `WatchOptions` run the streaming engine from a pipeline script;
- `Options`, `Thresholds`, `Result`, `Record`, `Trajectory`, `TrajectorySet`, `Problem` are the
  types; `MotionconsError`, `InputError`, `UsageError`, `OutputError` the errors.
"""

from ._version import installed_version
from .api import Record, Result, compare, options, read
from .consensus import Thresholds
from .errors import InputError, MotionconsError, OutputError, UsageError
from .evaluation import Options
from .pipeline import decide
from .streaming.watcher import Watcher, WatchOptions
from .trajectory import Problem, Trajectory, TrajectorySet

__all__ = [
    "InputError",
    "MotionconsError",
    "Options",
    "OutputError",
    "Problem",
    "Record",
    "Result",
    "Thresholds",
    "Trajectory",
    "TrajectorySet",
    "UsageError",
    "WatchOptions",
    "Watcher",
    "__version__",
    "compare",
    "decide",
    "options",
    "read",
]


def __getattr__(name: str) -> str:
    if name == "__version__":  # read from the package metadata when asked
        return installed_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The Python API: compare two motion-correction results in memory, then write if you like.

Everything here is re-exported by the package::

    import motioncons

    result = motioncons.compare("MotionCorr/job002", "MotionCorr/job003", min_corr=0.8)
    print(result.counts["accepted"], "accepted")
    result.write("consensus")
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .consensus import Thresholds
from .evaluation import Comparison, Decision, Options, summary_of
from .formats import read_input
from .outputs.folder import OutputFolder
from .pipeline import compare_inputs, paused_gc, read_overrides, write_run
from .records import CSV_COLUMNS, Counts, Row, Summary
from .trajectory import TrajectorySet

_THRESHOLDS = {"min_corr": "min_corr", "min_range": "min_range", "max_rmse": "max_rmse_A",
               "max_error": "max_error_A", "max_motion": "max_motion_A",
               "max_early_motion": "max_early_motion_A"}
_OPTIONS = {f.name for f in fields(Options)} - {"thresholds", "keep_trajectories"}


def options(**values: Any) -> Options:
    """`Options` from the command line's option names (``min_corr=0.8``, ``fit="rigid"``...).

    Parameters
    ----------
    **values
        Any of ``min_corr``, ``min_range``, ``max_rmse`` (Å, ``"auto"`` or None),
        ``max_error``, ``max_motion``, ``max_early_motion`` (Å or None), and the fields of
        `Options`: ``fit``, ``convention``, ``pixel_size``, ``plots``, ``report``,
        ``match_regex``, ``cryosparc_project_dir``, ``workers``, ``early_frames``,
        ``override``. The defaults are the command line's.

    Returns
    -------
    Options
        Validated options; a wrong name or value raises `UsageError` with the CLI's message.

    Examples
    --------
    >>> motioncons.options(min_corr=0.8, max_rmse=None).thresholds.min_corr
    0.8
    """
    from .errors import UsageError

    unknown = set(values) - set(_THRESHOLDS) - _OPTIONS
    if unknown:
        raise UsageError(f"unknown option(s) {', '.join(sorted(unknown))}; choose from "
                         f"{', '.join(sorted({*_THRESHOLDS, *_OPTIONS}))}")
    thresholds = Thresholds(**{_THRESHOLDS[k]: v for k, v in values.items()
                               if k in _THRESHOLDS})
    result = Options(thresholds=thresholds, **{k: v for k, v in values.items() if k in _OPTIONS})
    result.validate()
    return result


class Record(Mapping[str, Any]):
    """One paired movie: the fields of ``consensus.csv``, as attributes or keys.

    Examples
    --------
    >>> record.decision, record["reason"], record.rmse_A
    ('accepted', 'agree', 0.21)
    """

    __slots__ = ("_row",)

    def __init__(self, row: Row) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        if name in CSV_COLUMNS:
            return getattr(self._row, name)
        raise AttributeError(name)

    def __getitem__(self, name: str) -> Any:
        if name not in CSV_COLUMNS:
            raise KeyError(name)
        return getattr(self._row, name)

    def __iter__(self) -> Iterator[str]:
        return iter(CSV_COLUMNS)

    def __len__(self) -> int:
        return len(CSV_COLUMNS)

    def __repr__(self) -> str:
        return f"Record(movie={self._row.movie!r}, decision={self._row.decision!r}, " \
               f"reason={self._row.reason!r})"


@dataclass
class Result:
    """The decisions of `compare`: nothing has been written yet.

    Attributes
    ----------
    rows : list of Record
        One record per paired movie, sorted by movie key, with the fields of ``consensus.csv``.
    counts : dict
        The counts of ``summary.json``: paired, accepted, discarded, only_in_reference,
        only_in_secondary, invalid, duplicates.
    summary : dict
        Everything else ``summary.json`` says: parameters, the ``auto`` calibration, the
        convention estimate, reasons, warnings, versions.
    warnings : list of str
        What the terminal summary warns about.
    """

    rows: list[Record]
    counts: Counts
    summary: Summary
    warnings: list[str]
    _comparison: Comparison = field(repr=False)
    _decision: Decision = field(repr=False)
    _options: Options = field(repr=False)

    def write(self, out_dir: str | Path, force: bool = False, plots: str | None = None,
              report: bool | None = None) -> list[str]:
        """Write every output into `out_dir`, as ``motioncons run`` does.

        Parameters
        ----------
        out_dir
            The output folder (created; refused if it holds another run's outputs).
        force
            Replace another run's outputs, as ``--force``.
        plots, report
            Override the overlays (``none``, ``discarded``, ``all``) and the report.

        Returns
        -------
        list of str
            The outputs written, relative to `out_dir`.

        Examples
        --------
        >>> result.write("consensus", plots="none")
        ['consensus.csv', 'accepted_micrographs.star', ...]
        """
        options = replace(self._options,
                          plots=self._options.plots if plots is None else plots,
                          report=self._options.report if report is None else report)
        options.validate()
        inputs = self._comparison.inputs
        reference, secondary = (str(inputs.get(side, {}).get("path", ""))
                                for side in ("reference", "secondary"))
        with OutputFolder(out_dir) as folder:
            folder.claim("run", reference, secondary, force)
            return write_run(folder.path, self._comparison, self._decision, options).outputs

    def to_pandas(self):
        """The rows as a pandas DataFrame (needs pandas), columns as in ``consensus.csv``."""
        try:
            import pandas
        except ImportError as exc:
            raise ImportError("Result.to_pandas needs pandas: pip install pandas") from exc
        return pandas.DataFrame([[getattr(r, c) for c in CSV_COLUMNS] for r in self.rows],
                                columns=list(CSV_COLUMNS))


def compare(reference: str | Path, secondary: str | Path, **values: Any) -> Result:
    """Read two motion-correction results, pair their movies and decide every pair.

    Nothing is written; `Result.write` writes the outputs of ``motioncons run``.

    Parameters
    ----------
    reference, secondary
        Any input ``motioncons run`` takes (a RELION job, a cryoSPARC ``.cs``, a Scipion set,
        a folder of MotionCor2/Warp/Xmipp/IMOD/cisTEM results, a table).
    **values
        The command line's options, by name: see `options`.

    Returns
    -------
    Result

    Raises
    ------
    InputError
        An input cannot be used (one line naming the file).
    UsageError
        An option is wrong.

    Examples
    --------
    >>> result = motioncons.compare("MotionCorr/job002", "MotionCorr/job003", min_corr=0.8)
    >>> result.counts["discarded"]
    12
    >>> [r.movie for r in result.rows if r.reason == "high_rmse"]
    ['FoilHole_1_Data_2_3_20240101_120000']
    """
    chosen = options(**values)
    with paused_gc():
        comparison, decision = compare_inputs(reference, secondary, chosen,
                                              read_overrides(chosen.override))
    summary = summary_of(comparison, decision, chosen)
    return Result([Record(row) for row in decision.rows],
                  Counts(**summary["counts"]),
                  summary, decision.warnings, comparison, decision, chosen)


def read(path: str | Path, pixel_size: float | None = None,
         cryosparc_project_dir: str | Path | None = None) -> TrajectorySet:
    """Read one motion-correction result into trajectories in the canonical convention.

    Parameters
    ----------
    path
        A result file or folder of any supported program.
    pixel_size
        Å per unbinned movie pixel, for formats that do not record it.
    cryosparc_project_dir
        The cryoSPARC project folder a moved ``.cs`` file's paths are relative to.

    Returns
    -------
    TrajectorySet
        ``trajectories`` (shifts in unbinned px, RELION's sign, 1-based frames) and
        ``problems`` (movies that could not be read, each with a reason and a message).

    Examples
    --------
    >>> found = motioncons.read("MotionCorr/job002")
    >>> found.format, len(found.trajectories), found.problems[:1]
    ('relion corrected_micrographs.star', 24, [])
    """
    return read_input(path, pixel_size, cryosparc_project_dir=cryosparc_project_dir)

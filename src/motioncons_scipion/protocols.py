"""The protocol: a drop-in for Xmipp's movie alignment consensus
(``XmippProtConsensusMovieAlignment``).

Same inputs (``inputMovies1`` reference, ``inputMovies2`` secondary), same parameters
(``minConsCorrelation``, ``minRangeShift``, ``trajectoryPlot``) and same outputs
(``outputMovies``, ``outputMicrographs``, ``outputMoviesDiscarded``,
``outputMicrographsDiscarded``, micrographs with ``_alignment_corr``, ``_alignment_rmse_error``,
``_alignment_max_error``). One step polls both sets, decides new movies in batches with
motioncons' engine (`motioncons.integrations.scipion_sets`) and appends them to the outputs; the
outputs close when both inputs are closed and every common movie is decided.
"""

import json
import os
import time
from pathlib import Path

import pyworkflow.protocol.params as params
from pwem.objects import Float, Image, Integer, SetOfMicrographs, SetOfMovies, String
from pwem.protocols import EMProtocol
from pyworkflow import PROD
from pyworkflow.object import Set
from pyworkflow.protocol import STEPS_SERIAL

import motioncons
from motioncons.consensus import CONVENTIONS
from motioncons.errors import InputError, MotionconsError
from motioncons.evaluation import parse_max_rmse
from motioncons.formats import scipion as scipion_format
from motioncons.integrations.scipion_sets import Decided, SetsConsensus

FITS = ("offset", "rigid", "xmipp")
CONVENTION_CHOICES = ("auto", *CONVENTIONS)
ACCEPTED, DISCARDED = "", "Discarded"
# The original protocol's attributes (with the xmipp fit, its exact values), then motioncons'.
METRICS = {"_alignment_corr": "corr", "_alignment_rmse_error": "rmse_px",
           "_alignment_max_error": "max_error_px", "_motioncons_corr_x": "corr_x",
           "_motioncons_corr_y": "corr_y", "_motioncons_rmse_A": "rmse_A",
           "_motioncons_max_error_A": "max_error_A", "_motioncons_range_ref_px": "range_ref_px",
           "_motioncons_range_sec_px": "range_sec_px",
           "_motioncons_motion_total_A": "motion_total_A"}
TEXTS = {"_motioncons_decision": "decision", "_motioncons_reason": "reason"}
# How many polls in a row an open input may stay unreadable (empty, locked, being replaced)
# before the run fails: an empty set is an empty file, whose stream state cannot be read.
READ_RETRY_POLLS = 12


class ProtMotionconsConsensus(EMProtocol):
    """Compare two movie alignments of the same movies (e.g. MotionCor2 and RELION, or one
    program with other parameters) and split movies and micrographs into accepted and
    discarded sets, with the agreement of their global shift trajectories attached.

    A drop-in for Xmipp's movie alignment consensus with the same form and outputs: with the
    ``xmipp`` fit it gives the original's numbers; the default ``offset`` fit also catches
    trajectories that disagree along one axis only, and the ``auto`` RMSE limit those that
    correlate but lie far apart. Works in streaming: new movies are decided as they arrive.
    """

    _label = "movie alignment consensus (motioncons)"
    _devStatus = PROD
    stepsExecutionMode = STEPS_SERIAL

    # ----------------------------------------------------------------- form

    def _defineParams(self, form):
        form.addSection(label="Input")
        form.addParam("inputMovies1", params.PointerParam, pointerClass="SetOfMovies",
                       important=True, label="Reference aligned movies",
                       help="The aligned movies whose alignment the outputs keep.")
        form.addParam("inputMovies2", params.PointerParam, pointerClass="SetOfMovies",
                      important=True, label="Secondary aligned movies",
                      help="Another alignment of the same movies, compared with the reference.")
        form.addParam("minConsCorrelation", params.FloatParam, default=0.75,
                      label="Minimum consensus shifts correlation",
                      help="Movies whose trajectories correlate less (the minimum of the X and "
                           "Y correlations) are discarded; -1 keeps all.")
        form.addParam("minRangeShift", params.FloatParam, default=3.0,
                      label="Minimum motion range (px)",
                      help="Below this range of motion the correlation means nothing: the "
                           "comparison is skipped and the movie accepted.")
        form.addParam("trajectoryPlot", params.BooleanParam, default=False,
                      label="Global alignment trajectory plot",
                      help="Draw every movie's two trajectories (micrograph attribute "
                           "plotCart). Without it, only discarded movies are drawn, for the "
                           "report.")
        form.addSection(label="motioncons")
        form.addParam("fit", params.EnumParam, choices=list(FITS), default=0,
                      display=params.EnumParam.DISPLAY_COMBO, label="Fit",
                      help="offset: remove each movie's offset in the dataset's axis "
                           "convention (the default). rigid: also a rotation. xmipp: the "
                           "original protocol's affine fit and rule, with its exact numbers.")
        form.addParam("maxRmse", params.StringParam, default="auto", label="Maximum RMSE (Å)",
                      help="Discard movies whose fitted trajectories lie further apart: a "
                           "number of Å, 'auto' (median + 5 MAD of the dataset's moving "
                           "movies, at least 1 px; offset and rigid fits) or 'none'.")
        form.addParam("maxError", params.FloatParam, allowsNull=True, default=None,
                      label="Maximum error (Å)", help="Largest allowed frame error; empty: off.")
        form.addParam("maxMotion", params.FloatParam, allowsNull=True, default=None,
                      label="Maximum total motion (Å)",
                      help="Discard movies whose reference trajectory travels further; "
                           "empty: off.")
        form.addParam("convention", params.EnumParam, choices=list(CONVENTION_CHOICES),
                      default=0, display=params.EnumParam.DISPLAY_COMBO,
                      label="Axis convention of the secondary",
                      help="How the secondary's axes relate to the reference's; auto "
                           "estimates it from the dataset (offset and rigid fits).")
        form.addParam("pollSeconds", params.FloatParam, default=10.0, expertLevel=1,
                      label="Check for new movies every (s)",
                      help="While an input is still open (streaming).")
        form.addParallelSection(threads=1, mpi=0)

    def _validate(self):
        errors = []
        try:
            self._options()
        except MotionconsError as exc:
            errors.append(str(exc))
        for name in ("inputMovies1", "inputMovies2"):
            movies = getattr(self, name).get()
            if movies is None:
                continue
            first = movies.getFirstItem() if movies.getSize() else None
            if first is not None and not (first.hasAlignment() and
                                          first.getAlignment().getShifts()[0]):
                errors.append(f"{name}: these movies have no alignment (global shifts): give "
                              "the output of a movie alignment protocol")
        return errors

    def _options(self) -> motioncons.Options:
        return motioncons.options(
            min_corr=self.minConsCorrelation.get(), min_range=self.minRangeShift.get(),
            fit=FITS[self.fit.get()], max_rmse=parse_max_rmse(self.maxRmse.get() or "none"),
            max_error=self.maxError.get(), max_motion=self.maxMotion.get(),
            convention=CONVENTION_CHOICES[self.convention.get()],
            plots="all" if self.trajectoryPlot.get() else "discarded",
            workers=max(1, self.numberOfThreads.get() or 1))

    # ----------------------------------------------------------------- steps

    def _insertAllSteps(self):
        self._insertFunctionStep(self.consensusStep.__name__)

    def consensusStep(self):
        engine = SetsConsensus(self._options())
        extra = Path(self._getExtraPath())
        paths = [self.inputMovies1.get().getFileName(), self.inputMovies2.get().getFileName()]
        failing = 0
        written = False
        while True:
            # Closed is read before the items: a set closed then holds every movie it will.
            closed = all(_closed(path) for path in paths)
            try:
                reference, secondary = (scipion_format.read(Path(p)) for p in paths)
                failing = 0
            except InputError as exc:
                # An open set may be empty or busy for now; a closed one will not change.
                failing += 1
                if closed or failing > READ_RETRY_POLLS:
                    raise
                self.info(f"motioncons: {exc}; trying again")
                time.sleep(self.pollSeconds.get())
                continue
            decided = engine.update(reference, secondary, closed)
            if decided:
                engine.draw(extra, decided)
                self._append(decided)
                self.info(f"motioncons: {len(decided)} movie(s) decided, "
                          f"{len(engine.rows)} so far")
            elif engine.waiting:
                self.info(f"motioncons: {engine.waiting}")
            if decided or closed or not written:  # the report of what is decided so far
                engine.write(extra, reference.micrograph_table)
                written = True
            if closed:
                self._close_outputs()
                return
            time.sleep(self.pollSeconds.get())

    # ----------------------------------------------------------------- outputs

    def _append(self, decided: list[Decided]) -> None:
        micrographs = self._input_micrographs()
        for suffix, accepted in ((ACCEPTED, True), (DISCARDED, False)):
            chosen = {d.reference_id: d.row for d in decided if d.row.accepted == accepted}
            if not chosen:
                continue
            movies_out, _ = self._output_set(SetOfMovies, f"movies{suffix}.sqlite",
                                             self.inputMovies1.get())
            for movie in _items(self.inputMovies1.get(), chosen):
                movie.setEnabled(accepted)
                movies_out.append(movie)
            self._updateOutputSet(f"outputMovies{suffix}", movies_out, Set.STREAM_OPEN)
            if micrographs is None:
                continue
            mics_out, first = self._output_set(SetOfMicrographs, f"micrographs{suffix}.sqlite",
                                               micrographs)
            for mic in _items(micrographs, chosen):
                row = chosen[mic.getObjId()]
                mic.setEnabled(accepted)
                self._annotate(mic, row)
                mics_out.append(mic)
            self._updateOutputSet(f"outputMicrographs{suffix}", mics_out, Set.STREAM_OPEN)
            if first:
                self._defineTransformRelation(self.inputMovies1, mics_out)

    def _annotate(self, mic, row) -> None:
        for attribute, column in METRICS.items():
            setattr(mic, attribute, Float(getattr(row, column)))
        for attribute, column in TEXTS.items():
            setattr(mic, attribute, String(getattr(row, column)))
        mic._motioncons_frames = Integer(row.frames)
        if self.trajectoryPlot.get():
            plot = Image()
            plot.setFileName(self._getExtraPath(row.plot_path) if row.plot_path else "")
            mic.plotCart = plot

    def _input_micrographs(self):
        """The micrographs of the protocol that produced the reference movies (same ids)."""
        producer = self.inputMovies1.getObjValue()
        for name in ("outputMicrographs", "outputMicrographsDoseWeighted"):
            micrographs = getattr(producer, name, None)
            if isinstance(micrographs, SetOfMicrographs):
                return micrographs
        return None

    def _output_set(self, set_class, file_name: str, template):
        """An output set to append to: the existing one, or a new open one like `template`."""
        path = self._getPath(file_name)
        if os.path.exists(path) and os.path.getsize(path) > 0:
            output = set_class(filename=path)
            output.loadAllProperties()
            output.enableAppend()
            return output, False
        output = set_class(filename=path)
        output.setStreamState(Set.STREAM_OPEN)
        output.copyInfo(template)
        return output, True

    def _close_outputs(self) -> None:
        for suffix in (ACCEPTED, DISCARDED):
            for kind, set_class in (("Movies", SetOfMovies), ("Micrographs", SetOfMicrographs)):
                name = f"output{kind}{suffix}"
                if self.hasAttribute(name):
                    output, _ = self._output_set(set_class, f"{kind.lower()}{suffix}.sqlite",
                                                 None)
                    self._updateOutputSet(name, output, Set.STREAM_CLOSED)

    # ----------------------------------------------------------------- info

    def _summary_json(self) -> dict:
        try:
            return json.loads(Path(self._getExtraPath("summary.json")).read_text())
        except (OSError, ValueError):
            return {}

    def _summary(self):
        summary = self._summary_json()
        if not summary:
            return ["No movie decided yet."]
        counts, parameters = summary["counts"], summary["parameters"]
        lines = [f"{counts['accepted']} accepted, {counts['discarded']} discarded of "
                 f"{counts['paired']} movies in both inputs (paired by "
                 f"{summary.get('pairing') or 'object id'}); {counts['only_in_reference']} only "
                 f"in the reference, {counts['only_in_secondary']} only in the secondary.",
                 f"Fit {parameters['fit']}, minimum correlation {parameters['min_corr']}, "
                 f"minimum range {parameters['min_range_px']} px."]
        convention = summary.get("convention")
        if convention:
            lines.append(f"Axis convention of the secondary: {convention.get('name')}.")
        if parameters.get("max_rmse_A") is not None:
            how = "auto" if summary.get("max_rmse_calibration") else "fixed"
            lines.append(f"Maximum RMSE ({how}): {parameters['max_rmse_A']:.3g} Å.")
        for name, label in (("max_error_A", "Maximum error"), ("max_motion_A", "Maximum motion")):
            if parameters.get(name) is not None:
                lines.append(f"{label}: {parameters[name]} Å.")
        if summary.get("reasons"):
            lines.append("Reasons: " + ", ".join(f"{k} {v}" for k, v in
                                                 summary["reasons"].items()) + ".")
        lines += [f"Warning: {w}" for w in summary.get("warnings", [])[:5]]
        lines.append(f"Report: {self._getExtraPath('report.html')}")
        return lines

    def _methods(self):
        summary = self._summary_json()
        if not summary:
            return []
        return [f"The global shift trajectories of two movie alignments were compared with "
                f"motioncons {summary.get('motioncons', '')} ({summary['parameters']['fit']} "
                f"fit); {summary['counts']['accepted']} of {summary['counts']['paired']} movies "
                f"were accepted."]


def _closed(path: str) -> bool:
    try:
        return scipion_format.stream_closed(Path(path))
    except InputError:
        return False


def _items(input_set, chosen: dict):
    """Clones of the items of `input_set` with the ids of `chosen`, in id order."""
    ids = sorted(chosen)
    try:
        for start in range(0, len(ids), 500):
            where = f"id IN ({','.join(str(int(i)) for i in ids[start:start + 500])})"
            for item in input_set.iterItems(where=where):
                yield item.clone()
    finally:
        input_set.close()  # no lock is kept on a set its producer still appends to

"""The producer: what a movie alignment protocol registers (a SetOfMovies with MovieAlignment
and a SetOfMicrographs with the same object ids), from trajectories in a JSON file, all at once
or in batches over time with the sets open (streaming). No image file is needed: the
consensus never opens one."""

import json
import time

import pyworkflow.protocol.params as params
from pwem.objects import Micrograph, Movie, MovieAlignment, SetOfMicrographs, SetOfMovies
from pwem.protocols import EMProtocol
from pyworkflow.object import Set


class ProtProduceAlignedMovies(EMProtocol):
    """Registers aligned movies and their micrographs from a JSON file (test suite)."""

    _label = "produce aligned movies (motioncons tests)"

    def _defineParams(self, form):
        form.addSection(label="Input")
        form.addParam("dataFile", params.StringParam,
                      help='JSON: {"sampling": Å/px, "movies": [{"id", "name", "x", "y"}]}')
        form.addParam("batchSize", params.IntParam, default=0,
                      help="Movies per append; 0: all at once, closed.")
        form.addParam("delaySeconds", params.FloatParam, default=0.0)
        form.addParam("startDelaySeconds", params.FloatParam, default=0.0,
                      help="Wait this long after registering the (open) outputs.")

    def _insertAllSteps(self):
        self._insertFunctionStep(self.produceStep.__name__)

    def produceStep(self):
        with open(self.dataFile.get()) as handle:
            data = json.load(handle)
        movies = data["movies"]
        size = self.batchSize.get() or len(movies) or 1
        batches = [movies[i:i + size] for i in range(0, len(movies), size)] or [[]]
        for number, batch in enumerate(batches):
            last = number == len(batches) - 1
            self._append(batch, data["sampling"], Set.STREAM_CLOSED if last else Set.STREAM_OPEN)
            if number == 0 and self.startDelaySeconds.get():
                time.sleep(self.startDelaySeconds.get())
            if not last:
                time.sleep(self.delaySeconds.get())

    def _open(self, set_class, file_name, sampling):
        path = self._getPath(file_name)
        output = set_class(filename=path)
        if self.hasAttribute("outputMovies"):
            output.loadAllProperties()
            output.enableAppend()
        else:
            output.setStreamState(Set.STREAM_OPEN)
            output.setSamplingRate(sampling)
            acquisition = output.getAcquisition()
            acquisition.setVoltage(300.0)
            acquisition.setSphericalAberration(2.7)
            acquisition.setAmplitudeContrast(0.1)
            acquisition.setMagnification(50000)
        return output

    def _append(self, batch, sampling, state):
        movies = self._open(SetOfMovies, "movies.sqlite", sampling)
        mics = self._open(SetOfMicrographs, "micrographs.sqlite", sampling)
        for entry in batch:
            movie = Movie(location=entry["name"])
            movie.setObjId(entry["id"])
            movie.setSamplingRate(sampling)
            movie.setMicName(entry["name"])
            movie.setAlignment(MovieAlignment(first=1, last=len(entry["x"]),
                                              xshifts=entry["x"], yshifts=entry["y"]))
            movies.append(movie)
            mic = Micrograph(location=entry["name"].rsplit(".", 1)[0] + ".mrc")
            mic.setObjId(entry["id"])
            mic.setSamplingRate(sampling)
            mic.setMicName(entry["name"])
            mics.append(mic)
        # Micrographs first: a consumer that sees a movie finds its micrograph.
        self._updateOutputSet("outputMicrographs", mics, state)
        self._updateOutputSet("outputMovies", movies, state)

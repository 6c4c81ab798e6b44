"""Opens the protocol's report (``extra/report.html``: counts, histograms with the thresholds,
every movie's metrics and overlays, and controls to try other thresholds) in the browser."""

import os
import webbrowser
from typing import ClassVar

from pyworkflow.viewer import DESKTOP_TKINTER, WEB_DJANGO, MessageView, View, Viewer

from .protocols import ProtMotionconsConsensus


class BrowserView(View):
    def __init__(self, path: str) -> None:
        View.__init__(self)
        self.path = path

    def show(self) -> None:
        webbrowser.open_new_tab("file://" + os.path.abspath(self.path))


class MotionconsReportViewer(Viewer):
    """The motioncons report of a consensus run."""

    _label = "motioncons report"
    _targets: ClassVar[list] = [ProtMotionconsConsensus]
    _environments: ClassVar[list] = [DESKTOP_TKINTER, WEB_DJANGO]

    def _visualize(self, obj, **kwargs):
        report = obj._getExtraPath("report.html")
        if not os.path.exists(report):
            return [MessageView("No report yet: no movie has been decided.",
                                "motioncons report", tkParent=self._tkRoot)]
        return [BrowserView(report)]

"""A Scipion plugin of the test suite, found through its ``pyworkflow.plugin`` entry point (the
``dist-info`` folder next to it) when its folder is on PYTHONPATH, by the test process and by
the protocol-run processes alike."""

from motioncons_scipion import Plugin as _MotionconsPlugin


class Plugin(_MotionconsPlugin):
    """Nothing to install, as motioncons' own plugin."""

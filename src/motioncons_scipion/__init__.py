"""motioncons as a Scipion 3 plugin: the movie alignment consensus protocol, in-process.

Registered under the ``pyworkflow.plugin`` entry point (``pip install "motioncons[scipion]"``
into Scipion's environment); Scipion then lists "movie alignment consensus (motioncons)" under
Movies in the protocol tree. No binary is installed: the protocol calls motioncons' own engine.
"""

import pwem

from motioncons._version import installed_version

__version__ = installed_version()
_logo = None


class Plugin(pwem.Plugin):
    """Nothing to install or configure: motioncons is pure Python in Scipion's environment."""

    _url = "https://github.com/motioncons/motioncons"

    @classmethod
    def _defineVariables(cls):
        pass

    @classmethod
    def getEnviron(cls):
        return None

    @classmethod
    def validateInstallation(cls):
        return []

"""motioncons: movie alignment consensus for cryo-EM."""

__version__ = "0.1.0"

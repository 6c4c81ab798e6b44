"""``python -m motioncons``: the command line."""

from .cli import entry

entry()

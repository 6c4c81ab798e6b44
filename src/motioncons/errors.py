"""Errors that stop a run. Each carries one line naming the file and the problem."""

from __future__ import annotations


class MotionconsError(Exception):
    """A run cannot proceed; the message is shown to the user as is."""


class InputError(MotionconsError):
    """An input path is missing, unreadable, of an unknown format, or empty."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class UsageError(MotionconsError):
    """Options that contradict each other or cannot be satisfied."""

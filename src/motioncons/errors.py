"""Errors that stop a run. Each carries one line naming the file and the problem."""

from __future__ import annotations


class MotionconsError(Exception):
    """A run cannot proceed; the message is shown to the user as is.

    Examples
    --------
    >>> try:
    ...     motioncons.compare("missing", "also_missing")
    ... except motioncons.MotionconsError as error:
    ...     print(error)
    missing: no such file or directory
    """


class InputError(MotionconsError):
    """An input path is missing, unreadable, of an unknown format, or empty."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem

    def __reduce__(self):  # so that it crosses a process boundary (worker pools)
        return type(self), (self.path, self.problem)


class UsageError(MotionconsError):
    """Options that contradict each other or cannot be satisfied."""


class OutputError(MotionconsError):
    """An output cannot be written: a read-only folder, a full disk, a path under a file."""

    def __init__(self, path: object, problem: object) -> None:
        if isinstance(problem, OSError):
            problem = f"cannot write: {problem.strerror or problem}"
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = str(problem)

    def __reduce__(self):
        return type(self), (self.path, self.problem)


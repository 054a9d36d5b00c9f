"""User-facing errors: the CLI prints them as one line, never as a traceback."""

from __future__ import annotations

from os import PathLike


class LumbarsegError(Exception):
    """A problem caused by the user's input or environment, with a one-line message."""


class InputFileError(LumbarsegError):
    """A specific input file is unusable; the message names the file and the problem."""

    def __init__(self, path: str | PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

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


def one_line(exc: BaseException, *, with_type: bool = False) -> str:
    """An exception as one line for a report or the console: the first line of its message
    with whitespace collapsed (messages of pydicom, highdicom or torch can span many lines),
    prefixed by the type name when asked, and the type name alone when there is no message."""
    lines = [" ".join(line.split()) for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if not text:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text}" if with_type else text


def error_reason(exc: BaseException) -> str:
    """The problem only (the caller reports the path next to it): an ``InputFileError``'s
    problem, else the exception's type and first line."""
    if isinstance(exc, InputFileError):
        return exc.problem
    return one_line(exc, with_type=True)

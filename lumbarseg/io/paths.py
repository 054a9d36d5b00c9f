"""Paths named inside data files (a COCO ``file_name``, ...) resolved against a folder the
user chose, never outside it.

A dataset or results file is input like any other: a ``file_name`` such as
``../../../../etc/passwd`` or ``/home/x/scan.dcm`` must not make a command read (or report
on) files outside the image folder it was given. The check is on the name itself (absolute,
a drive, or ``..`` climbing above the start), so it holds for every folder the name is looked
up in; links the user placed inside the folder are theirs and are followed.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from lumbarseg.errors import InputFileError


def stays_inside(name: str) -> bool:
    """Whether a relative name stays below the folder it is joined to (``a/../b`` does,
    ``../b``, ``a/../../b``, ``/b`` and ``C:b`` do not)."""
    text = str(name).replace("\\", "/")
    if not text or PurePosixPath(text).is_absolute() or PureWindowsPath(str(name)).drive:
        return False
    depth = 0
    for part in PurePosixPath(text).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part != ".":
            depth += 1
    return True


def check_inside(name: str, root: str | os.PathLike, source: str | os.PathLike) -> None:
    """Raise a one-line ``InputFileError`` about ``source`` (the file that named it) when
    ``name`` would leave ``root``."""
    if not stays_inside(name):
        raise InputFileError(
            source, f"file_name {str(name)!r} points outside the image folder {root}; refused")


def resolve_inside(root: str | os.PathLike, name: str, source: str | os.PathLike) -> Path:
    """``root / name`` after ``check_inside``."""
    check_inside(name, root, source)
    return Path(root) / name

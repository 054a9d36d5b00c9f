"""Reading a JSON input file with a one-line error that names the file and the problem."""

from __future__ import annotations

import json
import os
from typing import Any

from lumbarseg.errors import InputFileError


def load_json(path: str | os.PathLike, what: str = "file") -> Any:
    """Parse a JSON file or raise ``InputFileError`` saying what is wrong and where.

    ``what`` names the file's role in the "not found" message ("predictions file not found").
    """
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise InputFileError(path, f"{what} not found") from None
    except json.JSONDecodeError as exc:
        raise InputFileError(path, f"invalid JSON (line {exc.lineno}: {exc.msg})") from None
    except UnicodeDecodeError:
        raise InputFileError(path, "not a UTF-8 text file") from None
    except OSError as exc:
        raise InputFileError(path, f"unreadable ({exc.strerror})") from None

"""Finding the input images: a sorted, deterministic list with stable pseudonymous keys.

Image ids come from the sorted discovery order (never from completion order), so a resumed
or sharded run assigns exactly the ids an uninterrupted single run would.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from lumbarseg.errors import LumbarsegError
from lumbarseg.io.radiograph import RASTER_SUFFIXES, is_dicom_path

# Files that are never images; skipped silently (not reported) because every PACS export has them.
_IGNORED_NAMES = {"thumbs.db", ".ds_store", "desktop.ini"}


@dataclass(frozen=True)
class InputItem:
    """One discovered file. ``image_id`` is 1-based in sorted order over ALL inputs."""

    image_id: int
    path: str
    relative_path: str
    image_key: str


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str
    image_key: str = ""


def image_key(relative_path: str, secret: str | None = None) -> str:
    """Stable pseudonymous key of a relative path (no DICOM content, so no PHI).

    With ``secret`` (what ``lumbarseg infer`` uses: the run's random secret in
    ``OUT/private/``) it is an HMAC-SHA256: folder names are often patient ids, a small
    space, and a plain hash of the path could be reversed by hashing every candidate."""
    message = f"lumbarseg-image-v1\0{relative_path}".encode()
    if secret:
        return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:16]
    return hashlib.sha256(message).hexdigest()[:16]


def _is_candidate(path: Path) -> tuple[bool, str | None]:
    """(is an input, reason when skipped). Extensions announce intent; the DICM magic decides
    for extension-less files (PACS exports often name files IM00001 or by UID)."""
    suffix = path.suffix.lower()
    if path.name.upper() == "DICOMDIR":
        return False, "DICOMDIR index file, not an image"
    if suffix in RASTER_SUFFIXES or is_dicom_path(path, trust_suffix=True):
        return True, None
    return False, "neither DICOM (no DICM preamble) nor a PNG/JPEG/TIFF image"


def _walk(root: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name.lower() in _IGNORED_NAMES:
                continue
            found.append(Path(dirpath) / name)
    return found


def input_root(inputs: list[str | os.PathLike]) -> str:
    """The folder relative paths are taken from: the common parent of all inputs (a file
    input counts by its folder), so they do not depend on the order inputs were given in."""
    anchors = []
    for entry in inputs:
        path = Path(entry).resolve()
        anchors.append(str(path if path.is_dir() else path.parent))
    return os.path.commonpath(anchors)


def discover(inputs: list[str | os.PathLike],
             secret: str | None = None) -> tuple[list[InputItem], list[Skipped]]:
    """Walk folders and files; return (items in sorted relative-path order, skipped files).

    Relative paths are taken from ``input_root(inputs)``, so they are unique; keys are
    ``image_key(relative path, secret)``.
    """
    if not inputs:
        raise LumbarsegError("no input given")
    files: list[Path] = []
    for entry in inputs:
        path = Path(entry).resolve()
        if path.is_dir():
            files.extend(_walk(path))
        elif path.is_file():
            files.append(path)
        else:
            raise LumbarsegError(f"{entry}: input not found")
    base = input_root(inputs)
    chosen: dict[str, Path] = {}
    skipped: list[Skipped] = []
    for path in files:
        rel = Path(os.path.relpath(path, base)).as_posix()
        ok, reason = _is_candidate(path)
        if not ok:
            skipped.append(Skipped(rel, reason or "not an image", image_key(rel, secret)))
        else:
            chosen[rel] = path
    items = [
        InputItem(i + 1, str(chosen[rel]), relative_path=rel, image_key=image_key(rel, secret))
        for i, rel in enumerate(sorted(chosen))
    ]
    keys = {item.image_key for item in items}
    if len(keys) != len(items):  # 64-bit hash collision: astronomically unlikely, never silent
        raise LumbarsegError("image key collision between input paths; rename one of them")
    skipped.sort(key=lambda s: s.path)
    return items, skipped


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' (0-based i) -> (i, n)."""
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        raise LumbarsegError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
    if count < 1 or not 0 <= index < count:
        raise LumbarsegError(f"--shard {text!r}: need 0 <= I < N")
    return index, count


def shard(items: list[InputItem], index: int, count: int) -> list[InputItem]:
    """Round-robin partition in sorted order: disjoint, covering, balanced to within one."""
    return items[index::count]

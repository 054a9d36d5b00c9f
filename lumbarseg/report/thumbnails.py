"""Gallery images of the report: small JPEG thumbnails of each image's overlay.

The overlay is the inference run's ``overlays/<key>.png`` when it exists; otherwise it is drawn
here with the one overlay function (``lumbarseg.inference.overlay.draw_overlay``) on the source
radiograph, or on a blank canvas when the source is not reachable from this machine or its
pixels carry burned-in text (DICOM BurnedInAnnotation YES) and the user did not ask for them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np

from lumbarseg.io.atomic import write_bytes_atomic

THUMB_MAX_SIDE = 480


def safe_name(key: str) -> str:
    """A file-name-safe form of an image key (keys come from the run, names from users)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", key)[:120] or "image"


def _source_gray(record: dict, source: Path | None) -> np.ndarray:
    from lumbarseg.inference.overlay import shareable_background

    height, width = int(record["height"]), int(record["width"])
    if source is not None:
        from lumbarseg.io.radiograph import load_network_input

        try:
            gray = load_network_input(source)
        except Exception:  # any unreadable source: the masks alone still make a useful overlay
            gray = None
        if gray is not None and gray.shape[:2] == (height, width):
            return gray
    return shareable_background(np.zeros((height, width), np.uint8))


def draw_record_overlay(record: dict, flags: list[str], source: Path | None) -> np.ndarray:
    """BGR overlay of a record drawn on its source radiograph (or, when ``source`` is None or
    unreadable, on a blank canvas)."""
    from lumbarseg.inference.overlay import draw_overlay

    png = draw_overlay(_source_gray(record, source), record, flags)
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


def thumbnail(image: np.ndarray, max_side: int = THUMB_MAX_SIDE) -> np.ndarray:
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def write_jpeg(path: str | os.PathLike, image: np.ndarray, quality: int = 85) -> None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"{path}: JPEG encoding failed")
    write_bytes_atomic(path, data.tobytes())


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"{path}: PNG encoding failed")
    write_bytes_atomic(path, data.tobytes())

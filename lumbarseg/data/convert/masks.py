"""Label or instance mask PNGs: each pixel value is one vertebra.

By default value k (1..6) is level k (L1..S1) and 0 is background. A sidecar JSON next to
the mask (``<mask>.json``) or ``labels.json`` in its folder maps values to label spellings
(``{"1": "L1", "7": "T12"}``), which also covers instance masks with arbitrary values. The
image is the file with the mask's stem (``_mask``/``_label``/``_seg`` suffix removed) in
``--images``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lumbarseg.data.convert.records import (
    ConvertOptions,
    RawImage,
    RawInstance,
    ReadResult,
    find_image,
    load_json,
    read_each,
)
from lumbarseg.errors import InputFileError
from lumbarseg.levels import LEVELS

_SUFFIX = re.compile(r"[_\-.](mask|masks|label|labels|seg|segmentation|gt)$", re.IGNORECASE)


def mask_to_polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer contours of a binary mask as flat polygons through the boundary pixels' centres."""
    import cv2

    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    polygons = []
    for contour in contours:
        points = contour.reshape(-1, 2).astype(np.float64) + 0.5  # pixel centres
        if len(points) >= 3:
            polygons.append([float(v) for v in points.reshape(-1)])
    return polygons


def _value_labels(path: Path) -> dict[int, str] | None:
    for sidecar in (path.with_suffix(".json"), path.parent / "labels.json"):
        if sidecar.is_file():
            data = load_json(sidecar)
            if not isinstance(data, dict):
                raise InputFileError(sidecar, "label map must be an object {value: label}")
            try:
                return {int(k): str(v) for k, v in data.items()}
            except ValueError:
                raise InputFileError(
                    sidecar, "label map keys must be integer mask values"
                ) from None
    return None


def _read_one(path: Path, options: ConvertOptions) -> RawImage:
    import cv2

    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise InputFileError(path, "not a readable mask image")
    if mask.ndim == 3:
        raise InputFileError(path, "colour mask; a single-channel label mask is expected")
    stem = _SUFFIX.sub("", path.stem)
    dirs = [options.images_dir] if options.images_dir else []
    image_path, searched = find_image(stem, dirs)
    if image_path is not None and image_path.resolve() == path.resolve():
        image_path = None
    raw = RawImage(
        where=str(path),
        image_path=image_path,
        width=mask.shape[1],
        height=mask.shape[0],
        searched=searched,
    )
    labels = _value_labels(path)
    for value in sorted(int(v) for v in np.unique(mask) if v != 0):
        if labels is not None:
            label = labels.get(value, f"mask value {value}")
        else:
            label = LEVELS[value - 1] if 1 <= value <= len(LEVELS) else f"mask value {value}"
        polygons = mask_to_polygons(mask == value)
        if polygons:
            raw.instances.append(RawInstance(label=label, polygons=polygons))
    return raw


def read(inputs: list[Path], options: ConvertOptions) -> Iterator[ReadResult]:
    suffixes = (".png", ".tif", ".tiff", ".bmp")
    return read_each(inputs, suffixes, lambda path: _read_one(path, options))

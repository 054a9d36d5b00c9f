"""labelme JSON (one file per image): polygons, rectangles and circles become instances.

The image is ``imagePath`` (relative to the JSON), or a same-named file in ``--images``;
failing both, the embedded base64 ``imageData`` is used.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lumbarseg.data.convert.records import (
    ConvertOptions,
    RawImage,
    RawInstance,
    ReadResult,
    ellipse,
    find_image,
    load_json,
    read_each,
    rectangle,
)
from lumbarseg.errors import InputFileError

_NO_AREA = ("point", "line", "linestrip", "points")


def _polygon(shape: dict) -> list[float] | None:
    points = [[float(v) for v in p] for p in shape.get("points", [])]
    kind = shape.get("shape_type") or "polygon"
    if kind == "polygon":
        return [v for p in points for v in p]
    if kind == "rectangle" and len(points) == 2:
        (x0, y0), (x1, y1) = points
        return rectangle(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    if kind == "circle" and len(points) == 2:
        (cx, cy), (px, py) = points
        r = math.hypot(px - cx, py - cy)
        return ellipse(cx, cy, r, r)
    if kind in _NO_AREA:
        return None
    raise ValueError(f"unsupported shape_type {kind!r} with {len(points)} points")


def _decode_image_data(data: str) -> np.ndarray | None:
    import cv2

    try:
        buffer = np.frombuffer(base64.b64decode(data), dtype=np.uint8)
    except ValueError:
        return None
    image = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE)
    return image


def _read_one(path: Path, options: ConvertOptions) -> RawImage:
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise InputFileError(path, "not a labelme JSON (no 'shapes' list)")
    image_name = str(data.get("imagePath") or path.stem)
    dirs = [path.parent] + ([options.images_dir] if options.images_dir else [])
    image_path, searched = find_image(image_name.replace("\\", "/"), dirs)
    raw = RawImage(
        where=str(path),
        image_path=image_path,
        width=data.get("imageWidth"),
        height=data.get("imageHeight"),
        searched=searched,
    )
    if image_path is None and data.get("imageData"):
        raw.pixels = _decode_image_data(str(data["imageData"]))
        if raw.pixels is None:
            raise InputFileError(path, "imageData is not a decodable image")
    for number, shape in enumerate(data["shapes"]):
        try:
            polygon = _polygon(shape)
        except (TypeError, ValueError) as exc:
            raise InputFileError(path, f"shape {number} ({shape.get('label')!r}): {exc}") from None
        if polygon is None:
            continue
        label = shape.get("label")
        if label is None or str(label).strip() == "":
            raise InputFileError(path, f"shape {number} has no label")
        raw.instances.append(
            RawInstance(label=str(label), polygons=[polygon], attributes=_attributes(shape))
        )
    return raw


def _attributes(shape: dict) -> dict:
    attributes = {}
    if shape.get("group_id") is not None:
        attributes["group_id"] = shape["group_id"]
    if shape.get("flags"):
        attributes["flags"] = shape["flags"]
    return attributes


def read(inputs: list[Path], options: ConvertOptions) -> Iterator[ReadResult]:
    return read_each(inputs, (".json",), lambda path: _read_one(path, options))

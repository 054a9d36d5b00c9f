"""COCO instances JSON (CVAT export, lumbarseg phantoms, other tools): re-validated, with
category names remapped through the level alias table. RLE masks become polygons.

Image ``file_name``s are resolved against ``--images``, then the JSON's folder. An image's
``patient_id`` (or the ``patient_key`` of an earlier conversion) is hashed into the patient
key used for splits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from lumbarseg.data.convert.masks import mask_to_polygons
from lumbarseg.data.convert.records import (
    ConvertOptions,
    RawImage,
    RawInstance,
    ReadResult,
    expand_inputs,
    find_image,
    load_json,
)
from lumbarseg.errors import InputFileError
from lumbarseg.io.paths import check_inside, stays_inside


def _polygons(segmentation: object, height: int, width: int) -> list[list[float]]:
    if isinstance(segmentation, list):
        return [[float(v) for v in poly] for poly in segmentation]
    if isinstance(segmentation, dict) and "counts" in segmentation:
        from pycocotools import mask as mask_utils

        rle = segmentation
        if isinstance(rle["counts"], list):  # uncompressed RLE
            rle = mask_utils.frPyObjects(rle, *rle["size"])
        return mask_to_polygons(mask_utils.decode(rle))
    raise ValueError("segmentation is neither polygons nor RLE")


def _read_file(path: Path, options: ConvertOptions) -> Iterator[ReadResult]:
    try:
        data = load_json(path)
    except InputFileError as exc:
        yield exc
        return
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) for k in ("images", "annotations", "categories")
    ):
        yield InputFileError(
            path, "not a COCO instances JSON (needs images, annotations, categories)"
        )
        return
    try:
        names = {int(c["id"]): str(c["name"]) for c in data["categories"]}
    except (KeyError, TypeError, ValueError):
        yield InputFileError(path, "COCO categories need an integer 'id' and a 'name'")
        return
    by_image: dict[object, list[dict]] = defaultdict(list)
    for annotation in data["annotations"]:
        by_image[annotation.get("image_id")].append(annotation)
    known = {image.get("id") for image in data["images"]}
    for image_id in sorted(set(by_image) - known, key=str):
        yield InputFileError(
            path, f"annotations refer to image id {image_id!r}, which is not listed"
        )
    dirs = ([options.images_dir] if options.images_dir else []) + [path.parent]
    for image in data["images"]:
        file_name = str(image.get("file_name", ""))
        where = f"{path}[{file_name or image.get('id')}]"
        if file_name and not stays_inside(file_name):
            yield _outside(file_name, dirs, path)
            continue
        image_path, searched = find_image(file_name, dirs) if file_name else (None, [])
        raw = RawImage(
            where=where,
            image_path=image_path,
            width=image.get("width"),
            height=image.get("height"),
            patient_hint=_patient_hint(image),
            searched=searched,
        )
        try:
            for annotation in by_image.get(image.get("id"), []):
                raw.instances.append(_instance(annotation, names, raw, where))
        except InputFileError as exc:
            yield exc
            continue
        yield raw


def _outside(file_name: str, dirs: list[Path], path: Path) -> InputFileError:
    try:
        check_inside(file_name, " or ".join(map(str, dirs)), path)
    except InputFileError as exc:
        return exc
    raise AssertionError("only called for a name that leaves its folder")


def _patient_hint(image: dict) -> str | None:
    """A tool's patient id, or the key of a dataset converted before (keeps its grouping)."""
    if image.get("patient_id"):
        return f"id:{image['patient_id']}"
    if image.get("patient_key"):
        return f"key:{image['patient_key']}"
    return None


def _instance(annotation: dict, names: dict[int, str], raw: RawImage, where: str) -> RawInstance:
    number = annotation.get("id")
    category = annotation.get("category_id")
    if category not in names:
        raise InputFileError(where, f"annotation {number}: category id {category!r} not listed")
    try:
        polygons = _polygons(annotation.get("segmentation"), raw.height or 0, raw.width or 0)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputFileError(where, f"annotation {number}: unusable segmentation ({exc})") from None
    corners = annotation.get("corners")
    attributes = {k: annotation[k] for k in ("attributes",) if k in annotation}
    return RawInstance(
        label=names[category],
        polygons=polygons,
        corners=corners if isinstance(corners, list) and len(corners) == 4 else None,
        attributes=attributes.get("attributes", {}) if attributes else {},
    )


def read(inputs: list[Path], options: ConvertOptions) -> Iterator[ReadResult]:
    for path in expand_inputs(inputs, (".json",)):
        if isinstance(path, InputFileError):
            yield path
            continue
        yield from _read_file(path, options)

"""Converted (or phantom) COCO datasets -> Detectron2's DatasetCatalog/MetadataCatalog.

Dataset dicts follow Detectron2's standard format: absolute ``file_name`` (a PNG export or
a DICOM file: the mapper reads either through ``load_network_input``), ``height``, ``width``,
``image_id``, and ``annotations`` with ``bbox_mode`` XYWH_ABS, contiguous ``category_id``
0..5 (L1..S1) and polygon ``segmentation``; plus ``pixel_spacing_mm`` and ``patient_key``
when known, and ``corners`` per annotation when the source had them. The metadata carries
``thing_dataset_id_to_contiguous_id`` (file category id -> 0..5), so Detectron2's stock
``COCOEvaluator`` and ``tools/visualize_json_results.py`` work on these datasets unchanged.
"""

from __future__ import annotations

from pathlib import Path

from lumbarseg.errors import InputFileError, LumbarsegError
from lumbarseg.io.paths import resolve_inside
from lumbarseg.levels import LEVEL_COLORS, LEVELS, normalize_level

SPLITS = ("train", "val", "test")


def _read_coco(json_path: Path) -> dict:
    from lumbarseg.data.convert.records import load_json

    data = load_json(json_path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InputFileError(json_path, "not a COCO JSON (no 'images' list)")
    return data


def category_id_map(json_path: Path, data: dict) -> dict[int, int]:
    """COCO category id -> contiguous id (0..5 = L1..S1), by category name.

    This is Detectron2's ``thing_dataset_id_to_contiguous_id``: stock ``COCOEvaluator`` and
    ``tools/visualize_json_results.py`` use it to turn model classes back into the file's ids.
    """
    contiguous = {}
    for category in data.get("categories", []):
        level = normalize_level(str(category.get("name", "")))
        if level not in LEVELS:
            raise InputFileError(
                json_path,
                f"category {category.get('name')!r} is not one of {', '.join(LEVELS)} "
                "(convert the dataset with `lumbarseg convert --from coco` first)",
            )
        if LEVELS.index(level) in contiguous.values():
            raise InputFileError(json_path, f"two categories are level {level}")
        contiguous[int(category["id"])] = LEVELS.index(level)
    return contiguous


def load_lumbarseg_json(json_path: str | Path, image_root: str | Path | None = None) -> list[dict]:
    """Read a COCO JSON whose categories are the six levels into Detectron2 dataset dicts."""
    from detectron2.structures import BoxMode

    json_path = Path(json_path)
    root = Path(image_root) if image_root is not None else json_path.parent
    data = _read_coco(json_path)
    contiguous = category_id_map(json_path, data)
    by_image: dict = {}
    for annotation in data.get("annotations", []):
        by_image.setdefault(annotation["image_id"], []).append(annotation)
    dicts = []
    for image in data["images"]:
        if not image.get("file_name"):
            raise InputFileError(
                json_path, f"image {image.get('id')} has no image file (geometry-only dataset)"
            )
        record = {
            "file_name": str(resolve_inside(root, image["file_name"], json_path).resolve()),
            "height": int(image["height"]),
            "width": int(image["width"]),
            "image_id": image["id"],
        }
        for key in ("pixel_spacing_mm", "patient_key"):
            if image.get(key) is not None:
                record[key] = image[key]
        annotations = []
        for annotation in by_image.get(image["id"], []):
            segmentation = annotation["segmentation"]
            if isinstance(segmentation, list):
                segmentation = [poly for poly in segmentation if len(poly) >= 6]
                if not segmentation:
                    continue
            obj = {
                "bbox": [float(v) for v in annotation["bbox"]],
                "bbox_mode": BoxMode.XYWH_ABS,
                "category_id": contiguous[annotation["category_id"]],
                "segmentation": segmentation,
                "iscrowd": int(annotation.get("iscrowd", 0)),
            }
            if "corners" in annotation:
                obj["corners"] = annotation["corners"]
            annotations.append(obj)
        record["annotations"] = annotations
        dicts.append(record)
    return dicts


def register_lumbarseg_dataset(
    name: str, json_path: str | Path, image_root: str | Path | None = None
) -> None:
    """Register one COCO JSON under ``name`` (lazily loaded), with level names and colours.

    ``image_root`` defaults to the JSON's folder (where ``lumbarseg convert`` and
    ``lumbarseg phantom`` put the images' relative paths).
    """
    from detectron2.data import DatasetCatalog, MetadataCatalog

    json_path = Path(json_path)
    if not json_path.is_file():
        raise InputFileError(json_path, "dataset JSON not found")
    root = Path(image_root) if image_root is not None else json_path.parent
    if name in DatasetCatalog.list():
        raise LumbarsegError(f"dataset {name!r} is already registered")
    # Read now, not lazily: stock evaluators consult the metadata without loading the dicts.
    id_map = category_id_map(json_path, _read_coco(json_path))
    DatasetCatalog.register(name, lambda: load_lumbarseg_json(json_path, root))
    MetadataCatalog.get(name).set(
        thing_classes=list(LEVELS),
        thing_dataset_id_to_contiguous_id=id_map,
        thing_colors=[list(c) for c in LEVEL_COLORS],
        json_file=str(json_path.resolve()),
        image_root=str(root.resolve()),
        evaluator_type="coco",
    )


def register_converted(directory: str | Path, prefix: str) -> list[str]:
    """Register a ``lumbarseg convert`` output folder: ``<prefix>`` for annotations.json and
    ``<prefix>_train``/``_val``/``_test`` for each split file present. Returns the names."""
    directory = Path(directory)
    names = []
    main = directory / "annotations.json"
    if not main.is_file():
        raise InputFileError(directory, "no annotations.json (not a converted dataset folder)")
    register_lumbarseg_dataset(prefix, main, directory)
    names.append(prefix)
    for split in SPLITS:
        path = directory / f"annotations_{split}.json"
        if path.is_file():
            register_lumbarseg_dataset(f"{prefix}_{split}", path, directory)
            names.append(f"{prefix}_{split}")
    return names

"""COCO results in, labelled COCO results + per-image sidecar out (``lumbarseg label``).

Input results may carry RLE (compressed or not) or polygon segmentations and any category
naming: categories whose names read as levels (``normalize_level``) give level class ids;
a single "vertebra" category gives none, and labelling then relies on anatomy alone. An
optional per-result ``class_scores`` list (6 L1..S1 probabilities) is used as given.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from lumbarseg.errors import InputFileError
from lumbarseg.evaluation.structures import pixel_spacing_of, pixel_spacing_source_of
from lumbarseg.io.jsonfile import load_json
from lumbarseg.io.paths import resolve_inside
from lumbarseg.levels import LEVELS, normalize_level
from lumbarseg.postprocess.api import label_vertebrae
from lumbarseg.postprocess.candidates import Candidate
from lumbarseg.postprocess.config import LabellerConfig


def _category_levels(images_json: dict, results: list[dict]) -> dict[int, int | None]:
    """COCO category id -> level index 0..5, or None where the name is not a level."""
    cats = images_json.get("categories") or []
    mapping = {int(c["id"]): _index(normalize_level(str(c.get("name", "")))) for c in cats
               if "id" in c}
    used = {int(r["category_id"]) for r in results if "category_id" in r}
    if not cats:
        # Without names, ids 1..6 are read as L1..S1 only if more than one id is used.
        mapping = {cid: (cid - 1 if len(used) > 1 and 1 <= cid <= 6 else None) for cid in used}
    if len({v for v in mapping.values() if v is not None}) < 2:
        mapping = dict.fromkeys(mapping)  # a single-class detector: no level evidence
    return mapping


def _index(level: str | None) -> int | None:
    return LEVELS.index(level) if level in LEVELS else None


def _candidate(result: dict, height: int, width: int, level: int | None, path: Path) -> Candidate:
    seg = result.get("segmentation")
    mask = polygon = None
    if isinstance(seg, dict):
        from pycocotools import mask as mask_utils

        rle = seg
        if isinstance(seg.get("counts"), list):
            rle = mask_utils.frPyObjects(seg, *seg.get("size", [height, width]))
        mask = mask_utils.decode(rle).astype(bool)
    elif isinstance(seg, list) and seg:
        polygon = seg if isinstance(seg[0], list) else [seg]
    else:
        raise InputFileError(path, f"result for image {result.get('image_id')} has no "
                             "segmentation (RLE or polygons needed)")
    box = result.get("bbox")
    xyxy = None if box is None else np.array([box[0], box[1], box[0] + box[2], box[1] + box[3]])
    scores = result.get("class_scores")
    if scores is not None and len(scores) != len(LEVELS):
        scores = None
    return Candidate(mask=mask, polygon=polygon, box=xyxy, score=float(result.get("score", 1.0)),
                     class_scores=None if scores is None else np.asarray(scores, float),
                     class_id=level)


def label_coco(predictions: Path, images: Path, image_root: Path | None = None,
               config: LabellerConfig | None = None) -> tuple[list[dict], dict]:
    """(labelled COCO results, sidecar) for a COCO results file and its images/GT file."""
    results = load_json(predictions, "predictions file")
    if isinstance(results, dict) and "annotations" in results:
        results = results["annotations"]
    if not isinstance(results, list):
        raise InputFileError(predictions, "expected a COCO results list")
    images_json = load_json(images, "images file")
    if not isinstance(images_json, dict) or not isinstance(images_json.get("images"), list):
        raise InputFileError(images, "expected a COCO file with an 'images' list")
    image_info = {img["id"]: img for img in images_json["images"] if "id" in img}
    levels = _category_levels(images_json, results)
    by_image: dict = defaultdict(list)
    for r in results:
        if r.get("image_id") not in image_info:
            raise InputFileError(predictions, f"image_id {r.get('image_id')!r} is not in {images}")
        by_image[r["image_id"]].append(r)
    out: list[dict] = []
    sidecar: dict = {"predictions": str(predictions), "images": {}, "failures": []}
    for image_id, info in image_info.items():
        rows = by_image.get(image_id, [])
        h, w = int(info.get("height", 0)), int(info.get("width", 0))
        cands = [_candidate(r, h, w, levels.get(int(r.get("category_id", -1))), predictions)
                 for r in rows]
        pixels = None
        if image_root is not None and info.get("file_name"):
            pixels = _read_pixels(resolve_inside(image_root, info["file_name"], images), sidecar)
        res = label_vertebrae(cands, image=pixels, pixel_spacing_mm=pixel_spacing_of(info),
                              config=config, image_shape=(h, w) if h and w else None)
        for v in res.vertebrae:
            if v.category_id is None:
                continue  # T12/L6: no COCO category; kept in the sidecar
            row = dict(rows[v.index])
            row.update(category_id=v.category_id, score=rows[v.index].get("score", v.score),
                       level=v.level, level_confidence=round(v.confidence, 4))
            row.pop("class_scores", None)
            out.append(row)
        record = res.to_json()
        record["file_name"] = info.get("file_name")
        record["pixel_spacing_source"] = pixel_spacing_source_of(info)
        sidecar["images"][str(image_id)] = record
    return out, sidecar


def _read_pixels(path: Path, sidecar: dict) -> np.ndarray | None:
    """Pixels for the metal test; an unreadable image is reported, not fatal (batch keeps going)."""
    from lumbarseg.errors import LumbarsegError
    from lumbarseg.io.radiograph import read_radiograph

    try:
        return read_radiograph(path).pixels
    except LumbarsegError as exc:
        sidecar["failures"].append({"path": str(path), "reason": str(exc)})
        return None


def sidecar_path(out: Path) -> Path:
    """LABELLED.json -> LABELLED.sidecar.json."""
    return out.with_name(f"{out.stem}.sidecar.json")

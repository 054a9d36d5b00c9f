"""COCO results in, labelled COCO results + per-image sidecar out (``lumbarseg label``).

Input results may carry RLE (compressed or not) or polygon segmentations and any category
naming: categories whose names read as levels (``normalize_level``) give level class ids;
a single "vertebra" category gives none, and labelling then relies on anatomy alone. An
optional per-result ``class_scores`` list (6 L1..S1 probabilities) is used as given.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lumbarseg.errors import InputFileError
from lumbarseg.evaluation.structures import pixel_spacing_of, pixel_spacing_source_of
from lumbarseg.io.jsonfile import load_json
from lumbarseg.io.paths import resolve_inside
from lumbarseg.levels import LEVELS, normalize_level
from lumbarseg.postprocess.api import label_vertebrae
from lumbarseg.postprocess.candidates import Candidate
from lumbarseg.postprocess.config import LabellerConfig
from lumbarseg.postprocess.result import coco_result_scores

if TYPE_CHECKING:
    from lumbarseg.io.radiograph import Radiograph


def _category_levels(images_json: dict, results: list[dict]) -> dict[int, int | None]:
    """COCO category id -> level index 0..5, or None where the name is not a level."""
    cats = images_json.get("categories") or []
    mapping = {int(c["id"]): _index(normalize_level(str(c.get("name", "")))) for c in cats
               if isinstance(c, dict) and isinstance(c.get("id"), int)}
    used = {_category(r) for r in results if "category_id" in r} - {-1}
    if not cats:
        # Without names, ids 1..6 are read as L1..S1 only if more than one id is used.
        mapping = {cid: (cid - 1 if len(used) > 1 and 1 <= cid <= 6 else None) for cid in used}
    if len({v for v in mapping.values() if v is not None}) < 2:
        mapping = dict.fromkeys(mapping)  # a single-class detector: no level evidence
    return mapping


def _index(level: str | None) -> int | None:
    return LEVELS.index(level) if level in LEVELS else None


class BadPrediction(ValueError):
    """One prediction that cannot be labelled (reported in one line; the others go on)."""


def _candidate(result: dict, height: int, width: int, level: int | None) -> Candidate:
    # a detection score of our own results (re-labelling them), else the model's score
    score = result.get("detection_score", result.get("score", 1.0))
    try:
        score = float(score)
    except (TypeError, ValueError):
        raise BadPrediction(f"score {score!r} is not a number") from None
    if not np.isfinite(score) or score < 0:
        raise BadPrediction(f"score {score} is {'negative' if score < 0 else 'not finite'}")
    mask, polygon = _segmentation(result.get("segmentation"), height, width)
    box = result.get("bbox")
    xyxy = None
    if box is not None:
        arr = np.asarray(box, dtype=float).reshape(-1)
        if arr.size == 4 and np.isfinite(arr).all():
            xyxy = np.array([arr[0], arr[1], arr[0] + arr[2], arr[1] + arr[3]])
    scores = result.get("class_scores")
    if scores is not None:
        scores = np.asarray(scores, dtype=float).reshape(-1)
        if scores.shape != (len(LEVELS),) or not np.isfinite(scores).all():
            scores = None
    return Candidate(mask=mask, polygon=polygon, box=xyxy, score=score, class_scores=scores,
                     class_id=level)


def _segmentation(seg, height: int, width: int) -> tuple[np.ndarray | None, list | None]:
    """(mask, polygon parts) of a COCO segmentation; BadPrediction when there is nothing
    usable (missing, empty, non-finite coordinates, undecodable RLE)."""
    if isinstance(seg, dict):
        from pycocotools import mask as mask_utils

        try:
            rle = seg
            if isinstance(seg.get("counts"), list):
                rle = mask_utils.frPyObjects(seg, *seg.get("size", [height, width]))
            mask = mask_utils.decode(rle).astype(bool)
        except Exception as exc:  # noqa: BLE001 - pycocotools raises bare Exceptions
            raise BadPrediction(f"RLE segmentation cannot be decoded ({exc})") from None
        if not mask.any():
            raise BadPrediction("segmentation is empty")
        return mask, None
    if isinstance(seg, list) and seg:
        parts = seg if isinstance(seg[0], list) else [seg]
        try:
            arrays = [np.asarray(p, dtype=float) for p in parts]
        except (TypeError, ValueError):
            raise BadPrediction("polygon segmentation holds non-numbers") from None
        if any(not np.isfinite(a).all() for a in arrays):
            raise BadPrediction("polygon segmentation holds NaN or infinite coordinates")
        if not any(a.size >= 6 for a in arrays):
            raise BadPrediction("polygon segmentation has fewer than 3 points")
        return None, parts
    if isinstance(seg, list):
        raise BadPrediction("segmentation is empty")
    raise BadPrediction("no segmentation (RLE or polygons needed)")


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
    levels = _category_levels(images_json, [r for r in results if isinstance(r, dict)])
    by_image: dict = defaultdict(list)
    sidecar: dict = {"predictions": str(predictions), "images": {}, "failures": [],
                     "skipped_predictions": []}
    for n, r in enumerate(results):
        image_id = r.get("image_id") if isinstance(r, dict) else None
        if image_id not in image_info:
            _skip(sidecar, n, image_id, f"image_id {image_id!r} is not in {images}")
            continue
        info = image_info[image_id]
        h, w = int(info.get("height", 0)), int(info.get("width", 0))
        try:
            cand = _candidate(r, h, w, levels.get(_category(r)))
        except BadPrediction as exc:
            _skip(sidecar, n, image_id, str(exc))
            continue
        by_image[image_id].append((r, cand))
    out: list[dict] = []
    for image_id, info in image_info.items():
        rows = [r for r, _ in by_image.get(image_id, [])]
        cands = [c for _, c in by_image.get(image_id, [])]
        h, w = int(info.get("height", 0)), int(info.get("width", 0))
        film = None
        if image_root is not None and info.get("file_name"):
            film = _read_film(resolve_inside(image_root, info["file_name"], images), sidecar)
        res = label_vertebrae(cands, image=film.pixels if film else None,
                              pixel_spacing_mm=pixel_spacing_of(info), config=config,
                              image_shape=(h, w) if h and w else None,
                              caudal=film.caudal if film else None)
        for v in res.vertebrae:
            if v.category_id is None:
                continue  # T12/L6: no COCO category; kept in the sidecar
            row = dict(rows[v.index])
            row.update(category_id=v.category_id, level=v.level,
                       **coco_result_scores(v.score, v.confidence))
            if v.reshaped:
                row.update(_outline_of(v))
            row.pop("class_scores", None)
            out.append(row)
        record = res.to_json()
        record["file_name"] = info.get("file_name")
        record["pixel_spacing_source"] = pixel_spacing_source_of(info)
        sidecar["images"][str(image_id)] = record
    return out, sidecar


def _outline_of(vertebra) -> dict:
    """The segmentation and box the labeller cut a detection down to (one body's)."""
    from lumbarseg.evaluation.rle import encode_mask

    x0, y0, x1, y1 = vertebra.box
    segmentation = (encode_mask(vertebra.mask) if vertebra.mask is not None
                    else [[round(float(c), 2) for point in vertebra.polygon for c in point]])
    return {"segmentation": segmentation, "bbox": [x0, y0, x1 - x0, y1 - y0]}


def _category(result: dict) -> int:
    try:
        return int(result.get("category_id", -1))
    except (TypeError, ValueError):
        return -1


def _skip(sidecar: dict, index: int, image_id, reason: str) -> None:
    sidecar["skipped_predictions"].append({"index": index, "image_id": image_id,
                                           "reason": reason})


def _read_film(path: Path, sidecar: dict) -> Radiograph | None:
    """Pixels for the metal test and the film cues, and the header's orientation; an
    unreadable image is reported, not fatal (batch keeps going)."""
    from lumbarseg.errors import LumbarsegError
    from lumbarseg.io.radiograph import read_radiograph

    try:
        return read_radiograph(path)
    except LumbarsegError as exc:
        sidecar["failures"].append({"path": str(path), "reason": str(exc)})
        return None


def sidecar_path(out: Path) -> Path:
    """LABELLED.json -> LABELLED.sidecar.json."""
    return out.with_name(f"{out.stem}.sidecar.json")

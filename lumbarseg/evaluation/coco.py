"""COCO box and mask AP, overall and per level, with pycocotools.

Numbers follow Detectron2's ``COCOEvaluator``: percentages, keys AP/AP50/AP75/APs/APm/APl and
``AP-<level>`` (precision averaged over IoU 0.50:0.95 and recall, all areas, 100 detections).
Ground-truth areas come from the rasterised masks, so the COCO file path and the Detectron2
dataset-dict path score identically. Mask AP uses mask areas for small/medium/large (the box
is dropped before ``loadRes``, as Detectron2 does).
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections import OrderedDict
from collections.abc import Iterable

import pycocotools.mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from lumbarseg.evaluation.structures import ImageGroundTruth, InstancePredictions
from lumbarseg.levels import COCO_CATEGORIES, LEVELS

_SUMMARY_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def coco_ground_truth_dict(images: Iterable[ImageGroundTruth]) -> dict:
    """A COCO instances dict (categories 1..6 = L1..S1) of the given ground truth."""
    out_images, annotations = [], []
    for gt in images:
        out_images.append({"id": gt.image_id, "height": gt.height, "width": gt.width})
        for k, rle in enumerate(gt.rles):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": gt.image_id,
                    "category_id": int(gt.levels[k]) + 1,
                    "segmentation": rle,
                    "area": float(mask_util.area(rle)),
                    "bbox": [float(v) for v in gt.boxes[k]],
                    "iscrowd": int(gt.iscrowd[k]),
                }
            )
    return {"images": out_images, "annotations": annotations, "categories": COCO_CATEGORIES}


def coco_detections(image_id: int, pred: InstancePredictions) -> list[dict]:
    """COCO results entries (category ids 1..6, RLE masks, XYWH boxes) of one image."""
    return [
        {
            "image_id": int(image_id),
            "category_id": int(pred.levels[i]) + 1,
            "segmentation": pred.rles[i],
            "bbox": [float(v) for v in pred.boxes[i]],
            "score": float(pred.scores[i]),
        }
        for i in range(len(pred))
    ]


def _load_results(coco_gt: COCO, detections: list[dict]) -> COCO:
    if detections:
        with contextlib.redirect_stdout(io.StringIO()):
            return coco_gt.loadRes(detections)
    empty = COCO()
    empty.dataset = {
        "images": list(coco_gt.dataset["images"]),
        "categories": list(coco_gt.dataset["categories"]),
        "annotations": [],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        empty.createIndex()
    return empty


def _summarize(coco_eval: COCOeval) -> OrderedDict:
    results = OrderedDict(
        (key, float(coco_eval.stats[i] * 100)) for i, key in enumerate(_SUMMARY_KEYS)
    )
    # precision: (iou thresholds, recall points, categories, area ranges, max dets)
    precision = coco_eval.eval["precision"]
    for k, cat_id in enumerate(coco_eval.params.catIds):
        values = precision[:, :, k, 0, -1]
        values = values[values > -1]
        ap = float(values.mean() * 100) if values.size else float("nan")
        results[f"AP-{LEVELS[cat_id - 1]}"] = ap
    # COCOeval reports -1 for "no ground truth at all"; Detectron2 shows that as NaN.
    for key in _SUMMARY_KEYS:
        if results[key] < 0:
            results[key] = float("nan")
    return results


def coco_ap(ground_truth: dict, detections: list[dict]) -> OrderedDict:
    """{"segm": {...}, "bbox": {...}} from a COCO GT dict and COCO results entries."""
    coco_gt = COCO()
    coco_gt.dataset = copy.deepcopy(ground_truth)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt.createIndex()
    out = OrderedDict()
    for iou_type in ("segm", "bbox"):
        dets = copy.deepcopy(detections)
        if iou_type == "segm":
            for det in dets:
                det.pop("bbox", None)
        coco_dt = _load_results(coco_gt, dets)
        coco_eval = COCOeval(coco_gt, coco_dt, iou_type)
        coco_eval.params.catIds = [c["id"] for c in COCO_CATEGORIES]
        with contextlib.redirect_stdout(io.StringIO()):
            coco_eval.evaluate()
            coco_eval.accumulate()
            coco_eval.summarize()
        out[iou_type] = _summarize(coco_eval)
    return out

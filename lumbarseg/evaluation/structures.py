"""Per-image ground truth and predictions in one compact form (RLE masks) for evaluation.

Every evaluation path (Detectron2 ``DatasetEvaluator``, offline ``lumbarseg evaluate``) turns
its input into these two classes first, so the metrics never see where the data came from.
Masks are compressed COCO RLEs with ``counts`` as ``str`` (JSON-ready, cheap to gather across
processes); full-resolution masks exist only while one image is being scored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pycocotools.mask as mask_util

from lumbarseg.errors import LumbarsegError
from lumbarseg.evaluation.rle import encode_mask
from lumbarseg.levels import LEVELS, NUM_LEVELS, normalize_level

# Detectron2's BoxMode values, so this module needs no Detectron2 import.
_XYXY_ABS, _XYWH_ABS = 0, 1


@dataclass
class ImageGroundTruth:
    """The annotated vertebrae of one image; ``levels`` are indices into ``LEVELS`` (0 = L1)."""

    image_id: int
    height: int
    width: int
    levels: np.ndarray  # (K,) int64
    rles: list[dict]  # K compressed RLEs
    boxes: np.ndarray  # (K, 4) float64 XYWH
    iscrowd: np.ndarray  # (K,) bool; crowd regions count for COCO AP only
    pixel_spacing_mm: tuple[float, float] | None = None  # (row, col)


@dataclass
class InstancePredictions:
    """Scored instance masks of one image; ``levels`` are indices into ``LEVELS``.

    ``scores`` rank predictions for COCO AP. ``detection_scores`` say how sure the model is
    that a mask is a vertebra at all, and decide which predictions the score threshold keeps:
    a labeller's results rank by score x level confidence, but a well-found body whose level
    is uncertain is still found (its flags say the level is uncertain). None: the same as
    ``scores`` (raw model outputs).
    """

    levels: np.ndarray  # (N,) int64
    rles: list[dict]
    boxes: np.ndarray  # (N, 4) float64 XYWH
    scores: np.ndarray  # (N,) float64
    detection_scores: np.ndarray | None = None  # (N,) float64

    def __len__(self) -> int:
        return len(self.rles)

    @property
    def threshold_scores(self) -> np.ndarray:
        return self.scores if self.detection_scores is None else self.detection_scores

    def subset(self, keep: np.ndarray) -> InstancePredictions:
        idx = np.flatnonzero(keep)
        detection = None if self.detection_scores is None else self.detection_scores[idx]
        return InstancePredictions(
            self.levels[idx], [self.rles[i] for i in idx], self.boxes[idx], self.scores[idx],
            detection,
        )


def empty_predictions() -> InstancePredictions:
    return InstancePredictions(np.zeros(0, np.int64), [], np.zeros((0, 4)), np.zeros(0, np.float64))


def _str_counts(rle: dict) -> dict:
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": counts}


def segmentation_to_rle(segmentation: Any, height: int, width: int) -> dict | None:
    """Compressed RLE of a COCO/Detectron2 segmentation (polygons, RLE or binary array).

    Polygons with fewer than 3 points are dropped, as Detectron2's ``load_coco_json`` drops
    them, so a COCO file and the dataset dicts registered from it rasterise identically.
    Returns None when nothing usable is left.
    """
    if isinstance(segmentation, np.ndarray):
        return encode_mask(segmentation.astype(bool))
    if isinstance(segmentation, Mapping):
        rle = dict(segmentation)
        if isinstance(rle["counts"], list):
            rle = mask_util.frPyObjects(rle, int(rle["size"][0]), int(rle["size"][1]))
        if list(rle["size"]) != [height, width]:
            raise LumbarsegError(
                f"RLE size {list(rle['size'])} differs from the image size {[height, width]}"
            )
        return _str_counts(rle)
    if isinstance(segmentation, Sequence) and not isinstance(segmentation, str):
        polygons = [
            [float(v) for v in poly]
            for poly in segmentation
            if len(poly) % 2 == 0 and len(poly) >= 6
        ]
        if not polygons:
            return None
        return _str_counts(mask_util.merge(mask_util.frPyObjects(polygons, height, width)))
    return None


def level_index_map(names: Iterable[str], ids: Iterable[int]) -> dict[int, int]:
    """Map category ids to level indices by category *name*, so any id order works."""
    mapping = {}
    for name, cat_id in zip(names, ids, strict=True):
        level = normalize_level(str(name))
        if level is None or level not in LEVELS:
            raise LumbarsegError(
                f"category {cat_id} {name!r} is not one of the levels {', '.join(LEVELS)}"
            )
        mapping[int(cat_id)] = LEVELS.index(level)
    return mapping


def _box_xywh(ann: Mapping, rle: dict) -> list[float]:
    if "bbox" not in ann or ann["bbox"] is None or len(ann["bbox"]) != 4:
        return [float(v) for v in mask_util.toBbox(rle)]
    x0, y0, a, b = (float(v) for v in ann["bbox"])
    mode = int(ann.get("bbox_mode", _XYWH_ABS))
    if mode == _XYWH_ABS:
        return [x0, y0, a, b]
    if mode == _XYXY_ABS:
        return [x0, y0, a - x0, b - y0]
    raise LumbarsegError(f"bbox_mode {mode} is not supported (absolute XYXY or XYWH only)")


def ground_truth_from_annotations(
    image_id: int,
    height: int,
    width: int,
    annotations: Iterable[Mapping],
    category_to_level: Mapping[int, int],
    pixel_spacing_mm: Sequence[float] | None = None,
) -> ImageGroundTruth:
    """Build one image's ground truth from COCO annotations or Detectron2 dataset-dict annotations.

    Annotations whose polygons are all degenerate are dropped (Detectron2 does the same);
    an annotation without any segmentation is an error because every metric here needs masks.
    """
    levels, rles, boxes, crowd = [], [], [], []
    for ann in annotations:
        cat = int(ann["category_id"])
        if cat not in category_to_level:
            raise LumbarsegError(f"image {image_id}: unknown category_id {cat}")
        if ann.get("segmentation") is None:
            raise LumbarsegError(f"image {image_id}: an annotation has no segmentation")
        rle = segmentation_to_rle(ann["segmentation"], height, width)
        if rle is None:
            continue
        levels.append(category_to_level[cat])
        rles.append(rle)
        boxes.append(_box_xywh(ann, rle))
        crowd.append(bool(ann.get("iscrowd", 0)))
    spacing = None
    if pixel_spacing_mm is not None:
        spacing = (float(pixel_spacing_mm[0]), float(pixel_spacing_mm[1]))
    return ImageGroundTruth(
        image_id=int(image_id),
        height=int(height),
        width=int(width),
        levels=np.asarray(levels, np.int64),
        rles=rles,
        boxes=np.asarray(boxes, np.float64).reshape(-1, 4),
        iscrowd=np.asarray(crowd, bool),
        pixel_spacing_mm=spacing,
    )


def pixel_spacing_of(image_entry: Mapping) -> tuple[float, float] | None:
    """(row, col) spacing in mm from an image entry or dataset dict, when it says so.

    Looks at ``pixel_spacing_mm`` and at the phantom's ``lumbarseg_truth.pixel_spacing_mm``.
    """
    for source in (image_entry, image_entry.get("lumbarseg_truth") or {}):
        value = source.get("pixel_spacing_mm") if isinstance(source, Mapping) else None
        if value is not None and len(value) == 2:
            row, col = float(value[0]), float(value[1])
            if row > 0 and col > 0:
                return row, col
    return None


def pixel_spacing_source_of(image_entry: Mapping) -> str | None:
    """Which spacing ``pixel_spacing_of`` found: the entry's ``pixel_spacing_source`` (what
    ``lumbarseg convert`` read from the DICOM), "phantom truth", or "as given" when the entry
    states a spacing without saying where it came from; None without a spacing."""
    if pixel_spacing_of(image_entry) is None:
        return None
    if pixel_spacing_of({"pixel_spacing_mm": image_entry.get("pixel_spacing_mm")}):
        return str(image_entry.get("pixel_spacing_source") or "as given")
    return "phantom truth"


def predictions_from_masks(
    masks: np.ndarray,
    levels: Sequence[int],
    scores: Sequence[float],
    boxes_xyxy: np.ndarray | None = None,
) -> InstancePredictions:
    """Predictions from an (N, H, W) binary mask stack; boxes from the masks when not given."""
    rles = [encode_mask(m) for m in masks]
    if boxes_xyxy is None:
        boxes = np.asarray([mask_util.toBbox(r) for r in rles], np.float64).reshape(-1, 4)
    else:
        b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
        boxes = np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)
    levels_arr = np.asarray(levels, np.int64).reshape(-1)
    if levels_arr.size and (levels_arr.min() < 0 or levels_arr.max() >= NUM_LEVELS):
        raise LumbarsegError(f"predicted level indices must lie in 0..{NUM_LEVELS - 1}")
    return InstancePredictions(levels_arr, rles, boxes, np.asarray(scores, np.float64).reshape(-1))


def predictions_from_coco_results(
    results: Iterable[Mapping], height: int, width: int, category_to_level: Mapping[int, int]
) -> InstancePredictions:
    """Predictions of one image from COCO results entries (RLE or polygon segmentations).

    An entry's ``detection_score`` (written by ``lumbarseg infer`` and ``lumbarseg label``),
    where every entry has one, becomes the score the threshold reads.
    """
    levels, rles, boxes, scores, detection = [], [], [], [], []
    for res in results:
        cat = int(res["category_id"])
        if cat not in category_to_level:
            raise LumbarsegError(f"prediction with unknown category_id {cat}")
        if "segmentation" not in res:
            raise LumbarsegError("a prediction has no segmentation (mask results are needed)")
        rle = segmentation_to_rle(res["segmentation"], height, width)
        if rle is None:
            continue
        levels.append(category_to_level[cat])
        rles.append(rle)
        boxes.append(_box_xywh(res, rle))
        scores.append(float(res.get("score", 1.0)))
        detection.append(res.get("detection_score"))
    if not rles:
        return empty_predictions()
    detection_scores = None
    if all(d is not None for d in detection):
        detection_scores = np.asarray(detection, np.float64)
    return InstancePredictions(
        np.asarray(levels, np.int64),
        rles,
        np.asarray(boxes, np.float64),
        np.asarray(scores, np.float64),
        detection_scores,
    )

"""The one evaluation code path: per-image scoring, then a dataset summary.

``LumbarSegEvaluator`` (Detectron2, training-time and ``--eval-only``) and ``lumbarseg
evaluate`` (saved predictions) both feed (ground truth, prediction) pairs of each image into
``LumbarSegAccumulator.add``; ``summarize`` turns the compact per-image records into the
results dict. So the two give the same numbers on the same predictions by construction.

Results follow Detectron2's conventions: a dict of tasks, each a flat dict of floats in
percent; per-level entries are named ``<metric>-<level>`` (Detectron2's copy-paste printer
skips keys with "-"). Undefined values (no ground truth for a level) are NaN.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from lumbarseg.errors import LumbarsegError
from lumbarseg.evaluation.coco import coco_ap, coco_detections, coco_ground_truth_dict
from lumbarseg.evaluation.label_maps import (
    CLASS_NAMES,
    NUM_CLASSES,
    confusion_matrix,
    ground_truth_label_map,
    label_map_scores,
    per_class_dice,
    per_class_iou,
    prediction_label_map,
    rle_region,
)
from lumbarseg.evaluation.recognition import (
    LevelOutcome,
    components_as_predictions,
    level_outcome,
)
from lumbarseg.evaluation.structures import ImageGroundTruth, InstancePredictions
from lumbarseg.levels import LEVELS


@dataclass(frozen=True)
class EvaluationSettings:
    """Thresholds shared by every evaluation path.

    score_threshold: instance predictions whose detection score lies below it are left out
        of label maps, Dice and recognition (COCO AP always uses every prediction).
    iou_threshold: mask IoU a prediction needs to detect/recognise a vertebra.
    centroid_mm: VerSe-style centroid distance rule; None turns it off. Applied only to
        images whose pixel spacing is known.
    min_component_area: semantic models: connected components smaller than this (pixels)
        are not counted as vertebrae (0 = every component counts).
    """

    score_threshold: float = 0.5
    iou_threshold: float = 0.5
    centroid_mm: float | None = 20.0
    min_component_area: int = 0


@dataclass
class ImageRecord:
    """What one image contributes to the summary; small enough to gather across processes."""

    ground_truth: ImageGroundTruth
    detections: list[dict] | None  # COCO results for AP; None for semantic predictions
    confusion: np.ndarray  # (7, 7) int64
    outcome: LevelOutcome


def score_image(
    gt: ImageGroundTruth,
    predictions: InstancePredictions | None = None,
    label_map: np.ndarray | None = None,
    settings: EvaluationSettings | None = None,
) -> ImageRecord:
    """Score one image: instance ``predictions`` or a semantic ``label_map`` (0 bg, 1..6)."""
    settings = settings or EvaluationSettings()
    if (predictions is None) == (label_map is None):
        raise ValueError("pass exactly one of predictions and label_map")
    shape = (gt.height, gt.width)
    if predictions is not None:
        for rle in predictions.rles:
            if tuple(rle["size"]) != shape:
                raise LumbarsegError(
                    f"image {gt.image_id}: predicted mask size {tuple(rle['size'])} differs "
                    f"from the ground truth size {shape}"
                )
        kept = predictions.subset(predictions.threshold_scores >= settings.score_threshold)
        pred_map = prediction_label_map(kept, gt.height, gt.width)
        detections = coco_detections(gt.image_id, predictions)
        painted = [gt.rles[i] for i in np.flatnonzero(~gt.iscrowd)] + kept.rles
        region = rle_region(painted)
    else:
        pred_map = np.asarray(label_map)
        if pred_map.shape != shape:
            raise LumbarsegError(
                f"image {gt.image_id}: label map size {pred_map.shape} differs from the "
                f"ground truth size {shape}"
            )
        if pred_map.size and (pred_map.min() < 0 or pred_map.max() >= NUM_CLASSES):
            raise LumbarsegError(f"image {gt.image_id}: label map values must lie in 0..6")
        kept = components_as_predictions(pred_map, settings.min_component_area)
        detections = None
        region = None  # found by scanning the maps
    outcome = level_outcome(gt, kept, settings.iou_threshold, settings.centroid_mm)
    confusion = confusion_matrix(ground_truth_label_map(gt), pred_map, region=region)
    return ImageRecord(gt, detections, confusion, outcome)


def _pct(numerator: float, denominator: float) -> float:
    return float(100.0 * numerator / denominator) if denominator else float("nan")


def _nanmean(values: Iterable[float]) -> float:
    arr = np.asarray(list(values), np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else float("nan")


class LumbarSegAccumulator:
    """Collects per-image records and summarises them; see the module docstring."""

    def __init__(self, settings: EvaluationSettings | None = None):
        self.settings = settings or EvaluationSettings()
        self.records: list[ImageRecord] = []

    def reset(self) -> None:
        self.records = []

    def add(
        self,
        gt: ImageGroundTruth,
        predictions: InstancePredictions | None = None,
        label_map: np.ndarray | None = None,
    ) -> ImageRecord:
        record = score_image(gt, predictions, label_map, self.settings)
        self.records.append(record)
        return record

    def extend(self, records: Iterable[ImageRecord]) -> None:
        self.records.extend(records)

    def summarize(self) -> OrderedDict:
        """The results dict: segm/bbox (instance predictions only), labelmap, levels."""
        records = list({r.ground_truth.image_id: r for r in reversed(self.records)}.values())
        records.sort(key=lambda r: r.ground_truth.image_id)
        if not records:
            return OrderedDict()
        semantic = [r.detections is None for r in records]
        if any(semantic) and not all(semantic):
            raise LumbarsegError("cannot mix instance and semantic predictions in one evaluation")

        results: OrderedDict = OrderedDict()
        if not semantic[0]:
            detections = [d for r in records for d in r.detections]
            ground_truth = coco_ground_truth_dict(r.ground_truth for r in records)
            results.update(coco_ap(ground_truth, detections))

        conf = np.sum([r.confusion for r in records], axis=0)
        labelmap = OrderedDict((k, v * 100.0) for k, v in label_map_scores(conf).items())
        for name, iou in zip(CLASS_NAMES, per_class_iou(conf), strict=True):
            labelmap[f"IoU-{name}"] = float(iou * 100.0)
        results["labelmap"] = labelmap
        results["levels"] = self._level_summary(records, conf)
        return results

    def _level_summary(self, records: list[ImageRecord], conf: np.ndarray) -> OrderedDict:
        levels = np.concatenate([r.outcome.levels for r in records])
        detected = np.concatenate([r.outcome.detected for r in records])
        recognized = np.concatenate([r.outcome.recognized for r in records])
        with_spacing = [r for r in records if r.outcome.recognized_centroid is not None]
        out: OrderedDict = OrderedDict()
        dice = per_class_dice(conf)[1:] * 100.0
        out["dice_mean"] = _nanmean(dice)
        out["detection"] = _pct(detected.sum(), detected.size)
        out["recognition"] = _pct(recognized.sum(), recognized.size)
        if with_spacing:
            c_levels = np.concatenate([r.outcome.levels for r in with_spacing])
            c_ok = np.concatenate([r.outcome.recognized_centroid for r in with_spacing])
            out["recognition_centroid"] = _pct(c_ok.sum(), c_ok.size)
        out["sequence_accuracy"] = _pct(
            sum(r.outcome.sequence_correct for r in records), len(records)
        )
        out["images"] = float(len(records))
        for i, name in enumerate(LEVELS):
            at = levels == i
            out[f"dice-{name}"] = float(dice[i])
            out[f"detection-{name}"] = _pct(detected[at].sum(), at.sum())
            out[f"recognition-{name}"] = _pct(recognized[at].sum(), at.sum())
            if with_spacing:
                c_at = c_levels == i
                out[f"recognition_centroid-{name}"] = _pct(c_ok[c_at].sum(), c_at.sum())
            out[f"gt-{name}"] = float(at.sum())
        return out

"""Vertebra-level outcomes: detection, recognition (found with the right label), label sequence.

Rules (one image, predictions already filtered by the score threshold; crowd GT ignored):

- detected: the vertebra is matched one-to-one to *any* prediction with mask IoU >= 0.5
  (Hungarian matching maximising total IoU, labels ignored);
- recognised: the vertebra is matched one-to-one to a prediction *of its own level* with mask
  IoU >= 0.5 (the same matching, done per level);
- recognised (centroid rule, VerSe-style, only when the pixel spacing is known): the nearest
  prediction of its level has its centroid within 20 mm of the vertebra's centroid, and this
  vertebra is the ground-truth vertebra nearest to that predicted centroid;
- sequence correct: every vertebra is recognised and no prediction is left unmatched (no extra
  or duplicate prediction of any level).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pycocotools.mask as mask_util
from scipy.optimize import linear_sum_assignment

from lumbarseg.evaluation.rle import encode_mask, rle_centroid
from lumbarseg.evaluation.structures import (
    ImageGroundTruth,
    InstancePredictions,
    empty_predictions,
)
from lumbarseg.levels import NUM_LEVELS


@dataclass
class LevelOutcome:
    """Per ground-truth vertebra (non-crowd, in GT order) outcomes of one image."""

    levels: np.ndarray  # (K,) level index
    detected: np.ndarray  # (K,) bool
    recognized: np.ndarray  # (K,) bool
    recognized_centroid: np.ndarray | None  # (K,) bool, None without pixel spacing
    unmatched_predictions: int
    sequence_correct: bool


def mask_iou(pred_rles: list[dict], gt_rles: list[dict]) -> np.ndarray:
    """(N, K) mask IoU between predictions and ground truth (pycocotools, on RLEs)."""
    if not pred_rles or not gt_rles:
        return np.zeros((len(pred_rles), len(gt_rles)))
    iou = mask_util.iou(pred_rles, gt_rles, [0] * len(gt_rles))
    return np.asarray(iou, np.float64).reshape(len(pred_rles), len(gt_rles))


def match(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """One-to-one (pred, gt) pairs with IoU >= threshold maximising total IoU."""
    if iou.size == 0:
        return []
    weights = np.where(iou >= threshold, iou, 0.0)
    rows, cols = linear_sum_assignment(weights, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= threshold]


def mask_centroids(rles: list[dict]) -> np.ndarray:
    """(N, 2) centroids (row, col) in pixels; NaN for an empty mask."""
    return np.asarray([rle_centroid(rle) for rle in rles], np.float64).reshape(-1, 2)


def components_as_predictions(label_map: np.ndarray, min_area: int = 0) -> InstancePredictions:
    """Connected components (8-connected) of each level of a semantic label map as instances.

    This is how a semantic model's output is scored per vertebra: two vertebrae fused into one
    blob become one instance, a level split into two blobs becomes two. Components smaller
    than ``min_area`` pixels are dropped. Scores are 1 (a label map has no ranking).
    """
    levels, rles, boxes = [], [], []
    height, width = label_map.shape
    for value in range(1, NUM_LEVELS + 1):
        binary = (label_map == value).astype(np.uint8)
        if not binary.any():
            continue
        count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        for k in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[k])
            if area < max(min_area, 1):
                continue
            mask = np.zeros((height, width), np.uint8)
            mask[y : y + h, x : x + w] = labels[y : y + h, x : x + w] == k
            levels.append(value - 1)
            rles.append(encode_mask(mask))
            boxes.append([x, y, w, h])
    if not rles:
        return empty_predictions()
    return InstancePredictions(
        np.asarray(levels, np.int64),
        rles,
        np.asarray(boxes, np.float64),
        np.ones(len(rles), np.float64),
    )


def _centroid_rule(
    gt_levels: np.ndarray,
    gt_centroids: np.ndarray,
    pred_levels: np.ndarray,
    pred_centroids: np.ndarray,
    spacing: tuple[float, float],
    max_mm: float,
) -> np.ndarray:
    scale = np.asarray(spacing, np.float64)
    ok = np.zeros(len(gt_levels), bool)
    if len(gt_levels) == 0 or len(pred_levels) == 0:
        return ok
    # (N, K) distances in mm between predicted and true centroids
    dist = np.linalg.norm((pred_centroids[:, None, :] - gt_centroids[None, :, :]) * scale, axis=2)
    dist = np.where(np.isnan(dist), np.inf, dist)
    for g, level in enumerate(gt_levels):
        candidates = np.flatnonzero(pred_levels == level)
        if candidates.size == 0:
            continue
        p = candidates[np.argmin(dist[candidates, g])]
        ok[g] = dist[p, g] <= max_mm and int(np.argmin(dist[p])) == g
    return ok


def level_outcome(
    gt: ImageGroundTruth,
    pred: InstancePredictions,
    iou_threshold: float = 0.5,
    centroid_mm: float | None = 20.0,
) -> LevelOutcome:
    """Detection, recognition and sequence outcomes of one image (see the module docstring)."""
    keep = np.flatnonzero(~gt.iscrowd)
    gt_levels = gt.levels[keep]
    gt_rles = [gt.rles[i] for i in keep]
    iou = mask_iou(pred.rles, gt_rles)

    detected = np.zeros(len(keep), bool)
    for _, g in match(iou, iou_threshold):
        detected[g] = True

    recognized = np.zeros(len(keep), bool)
    matched_preds = 0
    for level in np.unique(np.concatenate([gt_levels, pred.levels])):
        p_idx = np.flatnonzero(pred.levels == level)
        g_idx = np.flatnonzero(gt_levels == level)
        pairs = match(iou[np.ix_(p_idx, g_idx)], iou_threshold)
        matched_preds += len(pairs)
        for _, g in pairs:
            recognized[g_idx[g]] = True

    by_centroid = None
    if gt.pixel_spacing_mm is not None and centroid_mm is not None:
        by_centroid = _centroid_rule(
            gt_levels,
            mask_centroids(gt_rles),
            pred.levels,
            mask_centroids(pred.rles),
            gt.pixel_spacing_mm,
            centroid_mm,
        )
    unmatched = len(pred) - matched_preds
    return LevelOutcome(
        levels=gt_levels,
        detected=detected,
        recognized=recognized,
        recognized_centroid=by_centroid,
        unmatched_predictions=unmatched,
        sequence_correct=bool(recognized.all() and unmatched == 0),
    )

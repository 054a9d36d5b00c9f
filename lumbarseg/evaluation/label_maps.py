"""Semantic label maps and the FCN label-map metrics (Long et al.; ../shared/notes/domain.md).

Label values: 0 = background, 1..6 = L1..S1 (``level index + 1``), so instance and semantic
models are compared on the same 7-class maps, as the reference study did.

Metrics, with n_ij = pixels of class i predicted as class j and t_i = sum_j n_ij:

- pixel accuracy  = sum_i n_ii / sum_i t_i
- mean accuracy   = mean over classes with t_i > 0 of n_ii / t_i
- mean IoU        = mean over classes with t_i + sum_j n_ji > 0 of
                    n_ii / (t_i + sum_j n_ji - n_ii)
- fw IoU          = (1 / sum_k t_k) sum_i t_i IoU_i   (classes with t_i = 0 weigh nothing)

Absent classes (the FCN reference code's ``nanmean``): a class with no ground-truth pixels
has no accuracy, so it is left out of mean accuracy; a class neither in the ground truth nor
predicted has no IoU and is left out of mean IoU; a class predicted but absent from the ground
truth has IoU 0 and counts. The metrics are computed on the confusion matrix summed over the
whole dataset (not averaged per image), as FCN does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pycocotools.mask as mask_util

from lumbarseg.evaluation.rle import paint_runs
from lumbarseg.levels import LEVELS

NUM_CLASSES = len(LEVELS) + 1  # background + levels
CLASS_NAMES: tuple[str, ...] = ("background", *LEVELS)


def confusion_matrix(
    gt: np.ndarray,
    pred: np.ndarray,
    num_classes: int = NUM_CLASSES,
    region: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """(C, C) int64 matrix n_ij: pixels of ground-truth class i predicted as class j.

    ``region`` (y0, y1, x0, x1), when given, promises that both maps are background outside
    it; only the region is counted (the rest adds to n_00). Without it the region is found.
    """
    if gt.shape != pred.shape:
        raise ValueError(f"label maps differ in shape: {gt.shape} vs {pred.shape}")
    if region is None:
        region = foreground_region([gt, pred])
    conf = np.zeros((num_classes, num_classes), np.int64)
    if region is not None:
        y0, y1, x0, x1 = region
        index = num_classes * gt[y0:y1, x0:x1].astype(np.int64) + pred[y0:y1, x0:x1]
        conf += np.bincount(index.ravel(), minlength=num_classes**2).reshape(conf.shape)
    conf[0, 0] += gt.size - conf.sum()
    return conf


def foreground_region(maps: list[np.ndarray]) -> tuple[int, int, int, int] | None:
    """Smallest (y0, y1, x0, x1) box holding every non-zero pixel of the maps; None if none."""
    foreground = np.logical_or.reduce([m != 0 for m in maps])
    cols = np.flatnonzero(foreground.any(axis=0))
    if cols.size == 0:
        return None
    rows = np.flatnonzero(foreground[:, cols[0] : cols[-1] + 1].any(axis=1))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def rle_region(rles: list[dict]) -> tuple[int, int, int, int] | None:
    """Box (y0, y1, x0, x1) holding every mask, from the RLEs alone; None if all are empty."""
    boxes = [mask_util.toBbox(r) for r in rles if mask_util.area(r) > 0]
    if not boxes:
        return None
    b = np.asarray(boxes)
    x0, y0 = np.floor(b[:, :2].min(axis=0)).astype(int)
    x1, y1 = np.ceil((b[:, :2] + b[:, 2:]).max(axis=0)).astype(int)
    return int(y0), int(y1), int(x0), int(x1)


def _nanmean(values: np.ndarray) -> float:
    valid = ~np.isnan(values)
    return float(values[valid].mean()) if valid.any() else float("nan")


def per_class_accuracy(conf: np.ndarray) -> np.ndarray:
    """n_ii / t_i per class; NaN where the class has no ground-truth pixels."""
    conf = conf.astype(np.float64)
    t = conf.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t > 0, np.diag(conf) / t, np.nan)


def per_class_iou(conf: np.ndarray) -> np.ndarray:
    """IoU per class; NaN where the class is neither in the ground truth nor predicted."""
    conf = conf.astype(np.float64)
    tp = np.diag(conf)
    union = conf.sum(axis=1) + conf.sum(axis=0) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def per_class_dice(conf: np.ndarray) -> np.ndarray:
    """Dice 2 n_ii / (t_i + p_i) per class; NaN where the class is neither in GT nor predicted."""
    conf = conf.astype(np.float64)
    tp = np.diag(conf)
    denom = conf.sum(axis=1) + conf.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, 2 * tp / denom, np.nan)


def label_map_scores(conf: np.ndarray) -> dict[str, float]:
    """pixel_acc, mean_acc, mean_iou, fw_iou as fractions in [0, 1] (NaN for an empty matrix)."""
    conf = np.asarray(conf, np.float64)
    t = conf.sum(axis=1)
    total = t.sum()
    if total == 0:
        nan = float("nan")
        return {"pixel_acc": nan, "mean_acc": nan, "mean_iou": nan, "fw_iou": nan}
    iou = per_class_iou(conf)
    present = t > 0  # every class with t_i > 0 has a defined IoU
    return {
        "pixel_acc": float(np.trace(conf) / total),
        "mean_acc": _nanmean(per_class_accuracy(conf)),
        "mean_iou": _nanmean(iou),
        "fw_iou": float((t[present] * iou[present]).sum() / total),
    }


def paint_label_map(
    rles: Sequence[dict],
    labels: Sequence[int],
    order: Sequence[float],
    height: int,
    width: int,
) -> np.ndarray:
    """Paint masks into an HxW uint8 map; masks are painted in ascending ``order`` (stable),
    so the highest-ordered mask wins where masks overlap. ``labels`` are map values (1..6)."""
    label_map = np.zeros((height, width), np.uint8, order="F")
    flat = label_map.reshape(-1, order="F")  # a view: RLE runs are column-major
    for i in np.argsort(np.asarray(order, np.float64), kind="stable"):
        paint_runs(flat, rles[i], labels[i])
    return label_map


def ground_truth_label_map(gt) -> np.ndarray:
    """Label map of an ``ImageGroundTruth`` (crowd regions left out).

    Overlapping vertebrae (listhesis) are resolved deterministically: masks are painted in
    level order L1..S1, so the lower (caudal) level wins an overlap; two annotations of the
    same level keep annotation order (the later one wins).
    """
    keep = np.flatnonzero(~gt.iscrowd)
    return paint_label_map(
        [gt.rles[i] for i in keep],
        (gt.levels[keep] + 1).tolist(),
        gt.levels[keep].tolist(),
        gt.height,
        gt.width,
    )


def prediction_label_map(pred, height: int, width: int) -> np.ndarray:
    """Label map of ``InstancePredictions``: painted by score, the higher score on top.

    Callers pass only the predictions they keep (score threshold applied beforehand).
    """
    labels = (pred.levels + 1).tolist()
    return paint_label_map(pred.rles, labels, pred.scores.tolist(), height, width)

"""Instances -> labelled vertebrae: the pluggable step between the model and the writers.

Uses ``lumbarseg.postprocess.label_vertebrae`` (anatomy-aware L1-L5/S1 labelling, flags,
measurements); with ``use_postprocess=False`` a detector-only labeller keeps the best
detection of each class (the detector's own answer, e.g. to compare against).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lumbarseg.evaluation.rle import encode_mask
from lumbarseg.levels import LEVELS


def _r(value: float, digits: int) -> float:
    return round(float(value), digits)


def _xywh(box) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return [_r(x0, 2), _r(y0, 2), _r(x1 - x0, 2), _r(y1 - y0, 2)]


class Labeller:
    """Callable: (Instances, gray image, pixel spacing) -> the per-image record's labelling part."""

    def __init__(self, config: Any = None, use_postprocess: bool = True):
        self.config = config
        self.use_postprocess = use_postprocess

    @property
    def name(self) -> str:
        """Part of the model fingerprint: records of another labeller are not resumed."""
        return "lumbarseg.postprocess" if self.use_postprocess else "detector-classes"

    def __call__(self, instances: Any, image: np.ndarray | None, spacing,
                 caudal: tuple[float, float] | None = None) -> dict:
        if not self.use_postprocess:
            return _label_by_class(instances)
        from lumbarseg.postprocess import candidates_from_instances, label_vertebrae

        candidates = candidates_from_instances(instances)
        result = label_vertebrae(
            candidates, image=image, pixel_spacing_mm=spacing, config=self.config, caudal=caudal
        )
        vertebrae = []
        for v in result.vertebrae:
            mask = v.mask if v.mask is not None else candidates[v.index].mask
            vertebrae.append(
                _vertebra(v.level, v.score, v.confidence, v.box, mask, spans=list(v.spans or []))
            )
        rejected = []
        for r in result.rejected:
            c = candidates[r.index]
            rejected.append(
                {"reason": r.reason, "score": _r(c.score, 5),
                 "bbox": _xywh(c.box) if c.box is not None else None}
            )
        return {"vertebrae": vertebrae, "rejected": rejected, "flags": result.flags,
                "measurements": result.measurements}


def _vertebra(level, score, confidence, box, mask, spans=None) -> dict:
    return {
        "level": level,
        "category_id": LEVELS.index(level) + 1 if level in LEVELS else None,
        "score": _r(score, 5),
        "level_confidence": _r(confidence, 5),
        "bbox": _xywh(box),
        "segmentation": encode_mask(mask),
        "spans": spans or [level],
    }


def _label_by_class(instances: Any) -> dict:
    """Fallback: the detector's class is the level; the best detection of each class wins."""
    classes = instances.pred_classes.numpy()
    scores = instances.scores.numpy()
    masks = instances.pred_masks.numpy()
    boxes = instances.pred_boxes.tensor.numpy()
    class_scores = instances.class_scores.numpy() if instances.has("class_scores") else None
    vertebrae, rejected = [], []
    best: dict[int, int] = {}
    for i in np.argsort(-scores, kind="stable"):
        if int(classes[i]) in best:
            rejected.append({"reason": "duplicate of a higher-scoring detection of its class",
                             "score": _r(scores[i], 5), "bbox": _xywh(boxes[i])})
        else:
            best[int(classes[i])] = int(i)
    for cls in sorted(best):
        i = best[cls]
        conf = class_scores[i, cls] if class_scores is not None else 1.0
        vertebrae.append(_vertebra(LEVELS[cls], scores[i], conf, boxes[i], masks[i]))
    found = [LEVELS[c] for c in sorted(best)]
    flags = {"missing_levels": [lv for lv in LEVELS if lv not in found],
             "no_vertebrae": not found, "anchor": "detector-classes"}
    return {"vertebrae": vertebrae, "rejected": rejected, "flags": flags, "measurements": {}}

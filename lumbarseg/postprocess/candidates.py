"""The labeller's input: one detected instance, however the detector described it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lumbarseg.levels import NUM_LEVELS


@dataclass
class Candidate:
    """One detection of one image.

    ``mask`` is a bool HxW array in image pixels and/or ``polygon`` an (K, 2) float array of
    XY vertices (or COCO flat lists ``[[x0, y0, x1, y1, ...], ...]``; the largest part is
    used). ``box`` is XYXY; it is derived from the mask/polygon when omitted.
    ``class_scores`` are L1..S1 probabilities (shape (6,)) when the detector has level
    classes; ``class_id`` is its 0-based argmax class (0..5 = L1..S1) when only that is known.
    A single-class "vertebra" detector leaves both None: labelling then uses anatomy only.
    """

    mask: np.ndarray | None = None
    polygon: Any = None
    box: np.ndarray | None = None
    score: float = 1.0
    class_scores: np.ndarray | None = None
    class_id: int | None = None

    def __post_init__(self) -> None:
        if self.mask is None and self.polygon is None:
            raise ValueError("a Candidate needs a mask or a polygon")
        if self.mask is not None:
            self.mask = np.asarray(self.mask).astype(bool, copy=False)
            if self.mask.ndim != 2:
                raise ValueError(f"mask must be 2-D (H, W), got shape {self.mask.shape}")
        if self.class_scores is not None:
            scores = np.asarray(self.class_scores, dtype=np.float64).reshape(-1)
            if scores.shape != (NUM_LEVELS,):
                raise ValueError(
                    f"class_scores must have shape ({NUM_LEVELS},), got {scores.shape}")
            self.class_scores = scores
        if self.box is not None:
            self.box = np.asarray(self.box, dtype=np.float64).reshape(4)
        self.score = float(self.score)


def candidates_from_instances(instances: Any) -> list[Candidate]:
    """Candidates from a Detectron2 ``Instances`` (duck-typed: detectron2 is never imported).

    Reads ``pred_masks``, ``pred_boxes``, ``scores``, ``pred_classes`` and the optional
    ``class_scores`` (N, 6) added by the lumbarseg ROI head. A model with fewer than six
    classes (e.g. one "vertebra" class) gives no level classes.
    """

    def field(name: str) -> np.ndarray | None:
        if not instances.has(name):
            return None
        value = instances.get(name)
        value = getattr(value, "tensor", value)  # Boxes -> tensor
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        return np.asarray(value)

    n = len(instances)
    masks, boxes = field("pred_masks"), field("pred_boxes")
    scores, classes, class_scores = field("scores"), field("pred_classes"), field("class_scores")
    if masks is None:
        raise ValueError("Instances have no pred_masks; the labeller needs masks")
    has_levels = (class_scores is not None and class_scores.ndim == 2
                  and class_scores.shape[1] == NUM_LEVELS)
    out = []
    for i in range(n):
        cls = int(classes[i]) if classes is not None else None
        out.append(
            Candidate(
                mask=masks[i] > 0.5 if masks[i].dtype != bool else masks[i],
                box=boxes[i] if boxes is not None else None,
                score=float(scores[i]) if scores is not None else 1.0,
                class_scores=class_scores[i] if has_levels else None,
                class_id=cls if cls is not None and 0 <= cls < NUM_LEVELS and (
                    has_levels or _multi_class(classes)) else None,
            )
        )
    return out


def _multi_class(classes: np.ndarray | None) -> bool:
    """Level class ids are only meaningful when the model predicts more than one class."""
    return classes is not None and len(classes) > 0 and int(np.max(classes)) > 0

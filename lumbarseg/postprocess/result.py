"""The labeller's output: labelled vertebrae, rejected candidates, flags, measurements."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from lumbarseg.levels import LEVELS


def coco_result_scores(detection_score: float, level_confidence: float) -> dict:
    """The score fields of a labelled vertebra's COCO results entry.

    ``score`` (detection score x level confidence) ranks it by how sure we are that it is
    THIS level, which is what per-category COCO AP measures; ``detection_score`` says how sure
    the model is that it is a vertebra at all, and is what evaluation thresholds, so that a
    well-found body of uncertain level still counts as found (its flags carry the doubt).
    """
    return {"score": round(detection_score * level_confidence, 5),
            "detection_score": round(detection_score, 5),
            "level_confidence": round(level_confidence, 4)}


@dataclass
class LabelledVertebra:
    """One kept candidate with its level.

    ``level`` is L1..L5/S1, or T12/L6 where the anatomy says so. A fused block (two bodies in
    one mask) has ``level`` = its upper level and ``spans`` both levels.
    """

    index: int  # into the candidates passed in
    level: str
    confidence: float  # posterior probability of this level (0..1)
    score: float  # the detector's score, unchanged
    box: list[float]  # XYXY
    mask: np.ndarray | None = None
    polygon: list[list[float]] | None = None  # outline used, XY pairs
    spans: list[str] = field(default_factory=list)
    # the outline (and mask) is not the detection's own: cut to one body (a two-level mask,
    # an S1 that ran into the lower sacrum)
    reshaped: bool = False

    @property
    def category_id(self) -> int | None:
        """COCO category id 1..6, or None for T12/L6 (no category of their own)."""
        return LEVELS.index(self.level) + 1 if self.level in LEVELS else None

    def to_json(self) -> dict:
        return {"index": self.index, "level": self.level, "category_id": self.category_id,
                "confidence": round(self.confidence, 4), "score": round(self.score, 4),
                "box": [round(v, 2) for v in self.box], "spans": self.spans or [self.level]}


@dataclass
class Rejection:
    index: int
    reason: str

    def to_json(self) -> dict:
        return {"index": self.index, "reason": self.reason}


@dataclass
class LabellingResult:
    vertebrae: list[LabelledVertebra]  # cranial -> caudal
    rejected: list[Rejection]
    flags: dict
    measurements: dict

    @property
    def levels(self) -> dict[int, str]:
        """{candidate index: level} for the kept candidates."""
        return {v.index: v.level for v in self.vertebrae}

    def to_json(self) -> dict:
        """A JSON-serialisable dict (masks left out; the COCO output carries them)."""
        return {"vertebrae": [v.to_json() for v in self.vertebrae],
                "rejected": [r.to_json() for r in self.rejected],
                "flags": self.flags, "measurements": self.measurements}

    def to_json_str(self, indent: int | None = None) -> str:
        return json.dumps(self.to_json(), indent=indent)

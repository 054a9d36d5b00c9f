"""Detectron2 extensions registered on import (ROI heads that keep per-level scores)."""

from lumbarseg.modeling.roi_heads import LevelScoresROIHeads

__all__ = ["LevelScoresROIHeads"]

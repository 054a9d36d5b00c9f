"""Detectron2 extensions registered on import (ROI heads that keep per-level scores, a
basic-block ResNet-FPN backbone of any width)."""

from lumbarseg.modeling.backbone import build_basic_resnet_fpn_backbone
from lumbarseg.modeling.roi_heads import LevelScoresROIHeads

__all__ = ["LevelScoresROIHeads", "build_basic_resnet_fpn_backbone"]

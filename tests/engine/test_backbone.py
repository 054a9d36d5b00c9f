"""The basic-block ResNet-FPN backbone: stock at 64 channels, any width below."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_backbone

import lumbarseg.modeling  # noqa: F401  (registers the backbone)
from lumbarseg.config import load_config

CPU_CONFIG = Path(__file__).resolve().parents[2] / "configs/cpu/mask_rcnn_R_18_FPN.yaml"


def backbone_cfg(name: str, width: int, depth: int = 18):
    cfg = load_config(CPU_CONFIG)
    cfg.MODEL.BACKBONE.NAME = name
    cfg.MODEL.RESNETS.DEPTH = depth
    cfg.MODEL.RESNETS.STEM_OUT_CHANNELS = width
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = width
    return cfg


def shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("depth", [18, 34])
def test_at_64_channels_it_is_detectron2s_own_backbone(depth):
    ours = build_backbone(backbone_cfg("build_basic_resnet_fpn_backbone", 64, depth))
    stock = build_backbone(backbone_cfg("build_resnet_fpn_backbone", 64, depth))
    assert shapes(ours) == shapes(stock)


def test_half_width_halves_every_stage_and_keeps_strides():
    cfg = backbone_cfg("build_basic_resnet_fpn_backbone", 32)
    backbone = build_backbone(cfg, ShapeSpec(channels=1))
    bottom_up = backbone.bottom_up.output_shape()
    assert {k: (v.channels, v.stride) for k, v in bottom_up.items()} == {
        "res2": (32, 4), "res3": (64, 8), "res4": (128, 16), "res5": (256, 32)}
    stock = build_backbone(backbone_cfg("build_resnet_fpn_backbone", 64), ShapeSpec(channels=1))
    ours_params = sum(p.numel() for p in backbone.bottom_up.parameters())
    stock_params = sum(p.numel() for p in stock.bottom_up.parameters())
    assert ours_params < 0.3 * stock_params  # convolutions scale with width squared
    features = backbone(torch.rand(1, 1, 128, 96))
    fpn = cfg.MODEL.FPN.OUT_CHANNELS
    assert {k: tuple(v.shape) for k, v in features.items()} == {
        "p2": (1, fpn, 32, 24), "p3": (1, fpn, 16, 12), "p4": (1, fpn, 8, 6),
        "p5": (1, fpn, 4, 3), "p6": (1, fpn, 2, 2)}


def test_bottleneck_depths_are_refused_by_name():
    with pytest.raises(ValueError, match="DEPTH 50"):
        build_backbone(backbone_cfg("build_basic_resnet_fpn_backbone", 32, depth=50))

"""A ResNet-18/34 + FPN backbone of any width, for models trained from scratch.

Detectron2's ``build_resnet_fpn_backbone`` fixes the basic-block ResNets (R18, R34) at 64
channels in res2 (``RES2_OUT_CHANNELS`` must be 64), the width of the ImageNet weights they
would load. A model trained from scratch on two CPU cores has no weights to match, and there
the backbone's convolutions are most of an iteration: at half the width (32 channels in res2,
doubling per stage as usual) an iteration of the CPU recipe costs about three quarters as much,
and the same minutes buy more updates, which that recipe needs more than width (README,
results section). ``build_basic_resnet_fpn_backbone`` takes the widths from the usual keys,
``MODEL.RESNETS.STEM_OUT_CHANNELS`` and ``RES2_OUT_CHANNELS``, and builds the stages from
Detectron2's own blocks; at 64 it is the stock R18/R34-FPN.
"""

from __future__ import annotations

from detectron2.config import CfgNode
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY
from detectron2.modeling.backbone import FPN, ResNet
from detectron2.modeling.backbone.fpn import LastLevelMaxPool
from detectron2.modeling.backbone.resnet import BasicBlock, BasicStem

BLOCKS_PER_STAGE = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


def build_basic_resnet(cfg: CfgNode, input_shape: ShapeSpec) -> ResNet:
    """R18/R34 with ``STEM_OUT_CHANNELS`` in the stem and ``RES2_OUT_CHANNELS`` in res2,
    doubling at each later stage."""
    res = cfg.MODEL.RESNETS
    if res.DEPTH not in BLOCKS_PER_STAGE:
        raise ValueError(f"MODEL.RESNETS.DEPTH {res.DEPTH}: the basic-block backbone builds "
                         f"depths {sorted(BLOCKS_PER_STAGE)}")
    stem = BasicStem(in_channels=input_shape.channels, out_channels=res.STEM_OUT_CHANNELS,
                     norm=res.NORM)
    stages = []
    in_channels, out_channels = res.STEM_OUT_CHANNELS, res.RES2_OUT_CHANNELS
    for index, blocks in enumerate(BLOCKS_PER_STAGE[res.DEPTH]):
        first_stride = 1 if index == 0 else 2
        stages.append(ResNet.make_stage(
            BasicBlock, blocks, stride_per_block=[first_stride] + [1] * (blocks - 1),
            in_channels=in_channels, out_channels=out_channels, norm=res.NORM))
        in_channels, out_channels = out_channels, out_channels * 2
    return ResNet(stem, stages, out_features=res.OUT_FEATURES,
                  freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT)


@BACKBONE_REGISTRY.register()
def build_basic_resnet_fpn_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> FPN:
    """Detectron2's R-FPN with the basic-block bottom-up of ``build_basic_resnet``."""
    fpn = cfg.MODEL.FPN
    return FPN(bottom_up=build_basic_resnet(cfg, input_shape), in_features=fpn.IN_FEATURES,
               out_channels=fpn.OUT_CHANNELS, norm=fpn.NORM, top_block=LastLevelMaxPool(),
               fuse_type=fpn.FUSE_TYPE)

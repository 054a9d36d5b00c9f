"""The input each published ImageNet backbone expects, checked against a config.

Detectron2's ``ImageNetPretrained`` weights were trained on 0-255 images with a fixed channel
order and normalisation (Detectron2's MODEL_ZOO.md and ``config/defaults.py``); the MSRA ones
have the ImageNet std folded into conv1, so their ``PIXEL_STD`` must be 1. A mismatch trains
without any error but starts from features computed on wrongly scaled inputs, and with the
stem frozen (``FREEZE_AT`` 2) the network cannot undo it. lumbarseg feeds a grayscale
radiograph replicated to every channel, so the channel order itself never changes the pixels,
but the per-channel mean and std still have to be the weights' own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from detectron2.config import CfgNode

from lumbarseg.errors import LumbarsegError

IMAGENET_MEAN_BGR = (103.530, 116.280, 123.675)
IMAGENET_STD_BGR = (57.375, 57.120, 58.395)


@dataclass(frozen=True)
class InputRecipe:
    """What a backbone's pretrained weights were trained with."""

    format: str
    pixel_mean: tuple[float, ...]
    pixel_std: tuple[float, ...]
    stride_in_1x1: bool


# MODEL.WEIGHTS substring -> recipe. Converted torchvision weights are local files with no
# fixed name: use FORMAT "RGB", mean (123.675, 116.28, 103.53), std (58.395, 57.12, 57.375)
# and STRIDE_IN_1X1 False for them (Detectron2's tools/convert-torchvision-to-d2.py).
PRETRAINED_INPUTS: dict[str, InputRecipe] = {
    "ImageNetPretrained/MSRA/": InputRecipe("BGR", IMAGENET_MEAN_BGR, (1.0, 1.0, 1.0), True),
    "ImageNetPretrained/FAIR/": InputRecipe("BGR", IMAGENET_MEAN_BGR, IMAGENET_STD_BGR, False),
}

_CHANNELS = {"L": 1, "BGR": 3, "RGB": 3}


def input_recipe(weights: str) -> InputRecipe | None:
    """The recipe of known pretrained weights; None for local or trained checkpoints."""
    return next((r for key, r in PRETRAINED_INPUTS.items() if key in weights), None)


def _same(a, b) -> bool:
    if isinstance(b, tuple):
        return len(a) == len(b) and bool(np.allclose(a, b, atol=1e-3))
    return a == b


def check_pretrained_input(cfg: CfgNode) -> None:
    """Refuse a config whose input normalisation does not fit its channels or its weights."""
    fmt, mean, std = cfg.INPUT.FORMAT, cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD
    channels = _CHANNELS.get(fmt)
    if channels is not None and not len(mean) == len(std) == channels:
        raise LumbarsegError(
            f"INPUT.FORMAT {fmt!r} gives {channels} channel(s) but MODEL.PIXEL_MEAN has "
            f"{len(mean)} and MODEL.PIXEL_STD {len(std)} values"
        )
    recipe = input_recipe(cfg.MODEL.WEIGHTS)
    if recipe is None:
        return
    checks = (
        ("INPUT.FORMAT", fmt, recipe.format),
        ("MODEL.PIXEL_MEAN", list(mean), recipe.pixel_mean),
        ("MODEL.PIXEL_STD", list(std), recipe.pixel_std),
        ("MODEL.RESNETS.STRIDE_IN_1X1", cfg.MODEL.RESNETS.STRIDE_IN_1X1, recipe.stride_in_1x1),
    )
    wrong = [f"{key} is {value} (expected {want})" for key, value, want in checks
             if not _same(value, want)]
    if wrong:
        raise LumbarsegError(
            f"MODEL.WEIGHTS {cfg.MODEL.WEIGHTS} expects other input: {'; '.join(wrong)}"
        )

"""Every shipped config normalises its input the way the weights it names were trained, and
the mapper and the batch predictor hand the model the channels the config expects."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lumbarseg.config import load_config
from lumbarseg.config.pretrained import check_pretrained_input, input_recipe
from lumbarseg.data.mapper import RadiographDatasetMapper
from lumbarseg.errors import LumbarsegError
from lumbarseg.inference.predictor import BatchPredictor

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ALL_CONFIGS = sorted(
    str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob("*.yaml") if not p.name.startswith("Base")
)
# Detectron2 MODEL_ZOO.md: the MSRA ImageNet ResNets take BGR 0-255 minus this mean, std 1.
MSRA_MEAN = [103.53, 116.28, 123.675]


@pytest.mark.parametrize("config", ALL_CONFIGS)
def test_pixel_normalisation_matches_the_named_weights(config):
    cfg = load_config(CONFIGS / config)
    check_pretrained_input(cfg)
    if "ImageNetPretrained/MSRA/" in cfg.MODEL.WEIGHTS:
        assert cfg.INPUT.FORMAT == "BGR"
        assert np.allclose(cfg.MODEL.PIXEL_MEAN, MSRA_MEAN)
        assert np.allclose(cfg.MODEL.PIXEL_STD, [1.0, 1.0, 1.0])
        assert cfg.MODEL.RESNETS.STRIDE_IN_1X1 is True
    else:  # trained from scratch: every weight we ship is either MSRA or none
        assert cfg.MODEL.WEIGHTS == "" and input_recipe(cfg.MODEL.WEIGHTS) is None
    channels = 1 if cfg.INPUT.FORMAT == "L" else 3
    assert len(cfg.MODEL.PIXEL_MEAN) == len(cfg.MODEL.PIXEL_STD) == channels


def test_a_mismatched_recipe_is_refused():
    cfg = load_config(CONFIGS / "mask_rcnn_R_50_FPN.yaml")
    cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD = [110.0] * 3, [60.0] * 3  # the old recipe
    with pytest.raises(LumbarsegError, match="PIXEL_STD is \\[60.0, 60.0, 60.0\\]"):
        check_pretrained_input(cfg)
    cfg = load_config(CONFIGS / "cpu/mask_rcnn_R_18_FPN.yaml")
    cfg.INPUT.FORMAT = "BGR"  # three channels, one mean
    with pytest.raises(LumbarsegError, match="3 channel"):
        check_pretrained_input(cfg)


class _Backbone:
    size_divisibility = 32


class _Model:
    backbone = _Backbone()


@pytest.mark.parametrize("config", ["mask_rcnn_R_50_FPN.yaml", "cpu/mask_rcnn_R_18_FPN.yaml"])
def test_mapper_and_predictor_feed_the_configs_channels(config, tmp_path):
    cfg = load_config(CONFIGS / config)
    cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = 40, 60
    gray = np.tile(np.arange(48, dtype=np.uint8)[:, None] * 5, (1, 32))
    path = tmp_path / "image.png"
    cv2.imwrite(str(path), gray)
    sample = RadiographDatasetMapper(cfg, False)(
        {"file_name": str(path), "height": 48, "width": 32, "image_id": 1}
    )
    image = sample["image"]
    channels = len(cfg.MODEL.PIXEL_MEAN)
    assert image.shape[0] == channels
    assert all(torch.equal(image[0], image[c]) for c in range(channels))  # replicated gray
    predictor = BatchPredictor([_Model()], cfg, "cpu")
    one = {"image": image[:1], "height": 48, "width": 32}
    fed = predictor._inputs([one])[0]["image"]
    assert fed.shape[0] == channels and torch.equal(fed, image)

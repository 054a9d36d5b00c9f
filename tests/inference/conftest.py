"""Fixtures: a tiny Mask R-CNN checkpoint and a messy input folder of real DICOM files."""

from __future__ import annotations

import pytest

from tests.helpers.infer_inputs import CPU_CONFIG, OPTS, make_input_folder


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> str:
    """A randomly initialised CPU Mask R-CNN saved with DetectionCheckpointer."""
    import torch
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.modeling import build_model

    import lumbarseg.modeling  # noqa: F401
    from lumbarseg.config import load_config

    torch.manual_seed(0)
    cfg = load_config(CPU_CONFIG, OPTS)
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    root = tmp_path_factory.mktemp("weights")
    DetectionCheckpointer(model, save_dir=str(root)).save("tiny")
    return str(root / "tiny.pth")


@pytest.fixture
def input_folder(tmp_path) -> dict:
    return make_input_folder(tmp_path / "in")

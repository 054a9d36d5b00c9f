"""Fixtures: a briefly trained CPU Mask R-CNN, its bundle, and phantom DICOMs."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CPU_CONFIG = REPO / "configs" / "cpu" / "mask_rcnn_R_18_FPN.yaml"
# Small test-time size and a threshold low enough that the briefly trained model (whose
# scores vary with what ran before it) always detects something.
TEST_OPTS = ["INPUT.MIN_SIZE_TEST", "160", "INPUT.MAX_SIZE_TEST", "256",
             "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.001", "TEST.DETECTIONS_PER_IMAGE", "12"]


@pytest.fixture(scope="session")
def trained_model(tiny_coco, tmp_path_factory) -> tuple[Path, Path]:
    """(config.yaml, model_final.pth) of a Mask R-CNN trained a few iterations."""
    import torch

    from lumbarseg.config import load_config
    from lumbarseg.data.register import register_lumbarseg_dataset
    from lumbarseg.engine import Trainer

    out = tmp_path_factory.mktemp("deploy_model")
    register_lumbarseg_dataset("deploy_tiny_spine", tiny_coco)
    torch.manual_seed(0)
    cfg = load_config(CPU_CONFIG, ["DATASETS.TRAIN", '("deploy_tiny_spine",)',
                                   "DATASETS.TEST", "()", "INPUT.MIN_SIZE_TRAIN", "(128,)",
                                   "SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", "6",
                                   "SOLVER.WARMUP_ITERS", "1", "SOLVER.STEPS", "()",
                                   "DATALOADER.NUM_WORKERS", "0", "OUTPUT_DIR", str(out),
                                   *TEST_OPTS])
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    cfg.defrost()
    cfg.DATASETS.TRAIN = ()
    (out / "config.yaml").write_text(cfg.dump())
    return out / "config.yaml", out / "model_final.pth"


@pytest.fixture(scope="session")
def bundle(trained_model, tmp_path_factory) -> Path:
    """The trained model as a .lsm bundle (with its ONNX graph), made by the CLI."""
    from lumbarseg.cli import main

    config, weights = trained_model
    out = tmp_path_factory.mktemp("bundle") / "model.lsm"
    assert main(["export-model", "--config", str(config), "--weights", str(weights),
                 "--out", str(out), "--torchscript", str(out.with_suffix(".ts"))]) == 0
    return out


@pytest.fixture(scope="session")
def phantom_dicoms(tmp_path_factory) -> Path:
    """Eight 512-px phantom DICOMs (about a third postoperative)."""
    from lumbarseg.phantom import generate_dataset

    root = tmp_path_factory.mktemp("deploy_phantoms")
    generate_dataset(root, 8, seed=3, size=512)
    return root / "dicom"

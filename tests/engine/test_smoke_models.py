"""Every shipped config builds; the CPU configs train a few iterations and predict."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model

from lumbarseg.config import load_config
from lumbarseg.data.mapper import RadiographDatasetMapper
from lumbarseg.engine import Trainer
from lumbarseg.levels import NUM_LEVELS

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
CPU_INSTANCE_CONFIGS = ["cpu/mask_rcnn_R_18_FPN.yaml", "cpu/pointrend_R_18_FPN.yaml"]


def small_cfg(config: str, dataset: str, out: Path, max_iter: int = 3):
    cfg = load_config(CONFIGS / config)
    cfg.DATASETS.TRAIN = (dataset,)
    cfg.DATASETS.TEST = ()
    cfg.INPUT.MIN_SIZE_TRAIN = (128,)
    cfg.INPUT.MIN_SIZE_TEST = 128
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.SOLVER.MAX_ITER = max_iter
    cfg.SOLVER.WARMUP_ITERS = 1
    cfg.SOLVER.STEPS = ()
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.MODEL.DEVICE = "cpu"
    cfg.OUTPUT_DIR = str(out)
    return cfg


ALL_CONFIGS = sorted(
    str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob("*.yaml") if not p.name.startswith("Base")
)


@pytest.mark.parametrize("config", ALL_CONFIGS)
def test_every_config_builds(config):
    cfg = load_config(CONFIGS / config)
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    assert sum(p.numel() for p in model.parameters()) > 0
    if cfg.MODEL.META_ARCHITECTURE == "GeneralizedRCNN":
        assert model.roi_heads.num_classes == NUM_LEVELS
    else:  # background + one class per level, in the built head's last layer
        assert model.sem_seg_head.predictor.out_channels == NUM_LEVELS + 1


@pytest.mark.parametrize("config", CPU_INSTANCE_CONFIGS)
def test_cpu_config_trains_and_predicts(config, tiny_dataset, tmp_path):
    cfg = small_cfg(config, tiny_dataset, tmp_path)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    history = trainer.storage.history("total_loss").values()
    assert len(history) == cfg.SOLVER.MAX_ITER
    assert all(math.isfinite(v) for v, _ in history)

    model = trainer.model.eval()
    model.roi_heads.box_predictor.test_score_thresh = 0.0
    mapper = RadiographDatasetMapper(cfg, False)
    sample = mapper(DatasetCatalog.get(tiny_dataset)[0])
    with torch.inference_mode():
        instances = model([sample])[0]["instances"]
    assert len(instances) > 0
    assert instances.pred_masks.shape[1:] == (sample["height"], sample["width"])
    classes = instances.pred_classes
    assert int(classes.min()) >= 0 and int(classes.max()) < NUM_LEVELS
    scores = instances.class_scores
    assert scores.shape == (len(instances), NUM_LEVELS)
    assert torch.allclose(scores.sum(dim=1), torch.ones(len(instances)), atol=1e-4)
    # Scored as a vertebra (LUMBARSEG.SCORE_BY default): the class is the likeliest level and
    # no two detections share a proposal's box.
    assert cfg.LUMBARSEG.SCORE_BY == "vertebra"
    assert torch.equal(classes, scores.argmax(dim=1))
    assert torch.all((instances.scores > 0) & (instances.scores <= 1 + 1e-6))


def test_semantic_baseline_trains_and_predicts(tiny_dataset, tmp_path):
    cfg = small_cfg("cpu/semantic_R_18_FPN.yaml", tiny_dataset, tmp_path)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    losses = [v for v, _ in trainer.storage.history("total_loss").values()]
    assert len(losses) == cfg.SOLVER.MAX_ITER and all(math.isfinite(v) for v in losses)

    model = trainer.model.eval()
    sample = RadiographDatasetMapper(cfg, False)(DatasetCatalog.get(tiny_dataset)[0])
    with torch.inference_mode():
        sem_seg = model([sample])[0]["sem_seg"]
    assert sem_seg.shape == (NUM_LEVELS + 1, sample["height"], sample["width"])
    assert torch.isfinite(sem_seg).all()


def test_semantic_mapper_paints_levels(tiny_dataset):
    cfg = load_config(CONFIGS / "cpu/semantic_R_18_FPN.yaml")
    cfg.INPUT.MIN_SIZE_TRAIN = (160,)
    cfg.LUMBARSEG.AUG.ENABLED = False
    record = DatasetCatalog.get(tiny_dataset)[0]
    sample = RadiographDatasetMapper(cfg, True)(record)
    labels = sample["sem_seg"]
    assert "instances" not in sample
    # Every level appears, stacked top (L1 = 1) to bottom (S1 = 6), background is 0.
    present = [int(v) for v in torch.unique(labels)]
    assert present == list(range(NUM_LEVELS + 1))
    rows = [float(torch.nonzero(labels == k)[:, 0].float().mean()) for k in range(1, 7)]
    assert rows == sorted(rows)

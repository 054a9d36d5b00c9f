"""The one trainer for Mask R-CNN, PointRend and the semantic baseline.

Everything config-specific (architecture, datasets, augmentation, best-checkpoint metric)
comes from the config; the trainer only plugs lumbarseg's mapper, evaluator and hooks into
Detectron2's ``DefaultTrainer``.
"""

from __future__ import annotations

import argparse
import os

from detectron2.config import CfgNode
from detectron2.data import (
    DatasetCatalog,
    build_detection_test_loader,
    build_detection_train_loader,
)
from detectron2.engine import DefaultTrainer, default_setup, hooks

import lumbarseg.modeling  # noqa: F401  (registers the ROI heads and backbone)
from lumbarseg.config import load_config
from lumbarseg.config.defaults import check_device
from lumbarseg.config.pretrained import check_pretrained_input
from lumbarseg.data.mapper import RadiographDatasetMapper, build_radiograph_augmentation
from lumbarseg.engine.cpu_parallel import cpu_data_parallel
from lumbarseg.engine.hooks import ValidationLoss


def register_config_datasets(cfg: CfgNode) -> None:
    """Register the ``NAME=annotations.json`` datasets listed in ``LUMBARSEG.DATASETS``."""
    from lumbarseg.data.register import register_lumbarseg_dataset

    for entry in cfg.LUMBARSEG.DATASETS:
        name, _, path = entry.partition("=")
        if name not in DatasetCatalog.list():
            register_lumbarseg_dataset(name, path)


class Trainer(DefaultTrainer):
    def __init__(self, cfg: CfgNode):
        with cpu_data_parallel(cfg.MODEL.DEVICE):
            super().__init__(cfg)

    @classmethod
    def build_train_loader(cls, cfg: CfgNode):
        return build_detection_train_loader(cfg, mapper=RadiographDatasetMapper(cfg, True))

    @classmethod
    def build_test_loader(cls, cfg: CfgNode, dataset_name: str):
        return build_detection_test_loader(
            cfg, dataset_name, mapper=RadiographDatasetMapper(cfg, False)
        )

    @classmethod
    def build_evaluator(cls, cfg: CfgNode, dataset_name: str, output_folder: str | None = None):
        from lumbarseg.evaluation import LumbarSegEvaluator

        if output_folder is None:
            # Detectron2's place (inference/coco_instances_results.json); one folder per
            # dataset only when several are evaluated, so none overwrites another.
            output_folder = os.path.join(cfg.OUTPUT_DIR, "inference")
            if len(cfg.DATASETS.TEST) > 1:
                output_folder = os.path.join(output_folder, dataset_name)
        return LumbarSegEvaluator(dataset_name, output_dir=output_folder)

    def train(self):
        """Train, then return the last evaluation results (stock returns them only when
        ``TEST.EXPECTED_RESULTS`` is set), so scripts can report them."""
        super().train()
        return getattr(self, "_last_eval_results", None)

    def build_hooks(self) -> list:
        ret = super().build_hooks()
        cfg = self.cfg
        extra = []
        if cfg.TEST.EVAL_PERIOD > 0 and cfg.DATASETS.TEST:
            if cfg.LUMBARSEG.VAL_LOSS:
                # Training-mode forward needs annotations; test-time resizing, no augmentation.
                mapper = RadiographDatasetMapper(
                    cfg, True, augmentations=build_radiograph_augmentation(cfg, False)
                )
                loader = build_detection_test_loader(cfg, cfg.DATASETS.TEST[0], mapper=mapper)
                extra.append(ValidationLoss(cfg.TEST.EVAL_PERIOD, loader))
            if cfg.LUMBARSEG.BEST_METRIC:
                extra.append(
                    hooks.BestCheckpointer(
                        cfg.TEST.EVAL_PERIOD,
                        self.checkpointer,
                        cfg.LUMBARSEG.BEST_METRIC,
                        mode=cfg.LUMBARSEG.BEST_METRIC_MODE,
                    )
                )
        # After EvalHook (so the metric exists), before the writers (so it is logged).
        eval_index = next(i for i, h in enumerate(ret) if isinstance(h, hooks.EvalHook))
        return ret[: eval_index + 1] + extra + ret[eval_index + 1 :]


def setup_cfg(args: argparse.Namespace) -> CfgNode:
    """Config from ``--config-file`` and overrides, datasets registered, logging set up."""
    cfg = load_config(args.config_file, args.opts)
    check_device(cfg)
    check_pretrained_input(cfg)
    cfg.freeze()
    register_config_datasets(cfg)
    default_setup(cfg, args)
    return cfg

"""The lumbarseg config keys, added to Detectron2's CfgNode the way PointRend adds its own."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from detectron2.config import CfgNode as CN
from detectron2.config import get_cfg as get_detectron2_cfg

from lumbarseg.errors import InputFileError, LumbarsegError


def add_lumbarseg_config(cfg: CN) -> None:
    """Add the ``LUMBARSEG`` section and the PointRend keys so every config file merges."""
    from detectron2.projects.point_rend import add_pointrend_config

    if not hasattr(cfg.MODEL, "POINT_HEAD"):
        add_pointrend_config(cfg)

    # LevelScoresROIHeads: the box head also pools each proposal enlarged by this factor
    # (1 = off), to see the disc space or fused bone around a body.
    cfg.MODEL.ROI_BOX_HEAD.CONTEXT_SCALE = 1.0

    cfg.LUMBARSEG = CN()
    # Datasets converted by `lumbarseg convert` (or phantoms) registered by directory:
    # each entry is "NAME=PATH/TO/annotations.json" and is registered before training.
    cfg.LUMBARSEG.DATASETS = []
    # Radiograph augmentation, applied by the dataset mapper during training only.
    cfg.LUMBARSEG.AUG = CN()
    # Wide photometric ranges: exposure and processing differ far more between systems than
    # within one (the multi-scale resize is Detectron2's INPUT.MIN_SIZE_TRAIN list).
    cfg.LUMBARSEG.AUG.BRIGHTNESS = (0.75, 1.25)
    cfg.LUMBARSEG.AUG.CONTRAST = (0.6, 1.4)
    cfg.LUMBARSEG.AUG.GAMMA = (0.6, 1.6)
    cfg.LUMBARSEG.AUG.ROTATION_DEG = 10.0
    # Films cut inside the column: crop up to CROP_MAX_CUT of the height off the top or bottom.
    cfg.LUMBARSEG.AUG.CROP_PROB = 0.15
    cfg.LUMBARSEG.AUG.CROP_MAX_CUT = 0.35
    # Detector noise (uint8 grey levels) and blur (px), each on a share of images.
    cfg.LUMBARSEG.AUG.NOISE_PROB = 0.2
    cfg.LUMBARSEG.AUG.NOISE_STD = (2.0, 12.0)
    cfg.LUMBARSEG.AUG.BLUR_PROB = 0.15
    cfg.LUMBARSEG.AUG.BLUR_SIGMA = (0.5, 1.6)
    # Grey-scale inversion (a MONOCHROME1 film with a wrong header).
    cfg.LUMBARSEG.AUG.INVERT_PROB = 0.05
    # Screws, rods and cages pasted over bodies; the masks stay as they are.
    cfg.LUMBARSEG.AUG.IMPLANT_PROB = 0.1
    # Decoded training images kept in memory per loader worker (MiB; 0 = off): a DICOM read
    # costs more CPU than all augmentations together, and every image is seen several times.
    cfg.LUMBARSEG.AUG.IMAGE_CACHE_MB = 512
    # Horizontal flips are safe: labels are levels, not sides.
    cfg.LUMBARSEG.AUG.HFLIP_PROB = 0.5
    cfg.LUMBARSEG.AUG.ENABLED = True
    # Periodic validation loss on DATASETS.TEST[0] every TEST.EVAL_PERIOD iterations.
    cfg.LUMBARSEG.VAL_LOSS = True
    # Best-checkpoint saving: metric key as reported by the evaluator ("segm/AP", ...).
    cfg.LUMBARSEG.BEST_METRIC = "segm/AP"
    cfg.LUMBARSEG.BEST_METRIC_MODE = "max"
    # Detection score of LevelScoresROIHeads: "vertebra" = P(vertebra), one detection per
    # proposal (the labeller picks the level); "level" = Detectron2's per-class scores.
    cfg.LUMBARSEG.SCORE_BY = "vertebra"
    # Written by earlier versions (class scores are now always kept); ignored when loading.
    cfg.register_deprecated_key("LUMBARSEG.KEEP_CLASS_SCORES")
    add_labeller_config(cfg)


def _labeller_fields() -> list[tuple[str, dataclasses.Field, Any]]:
    """(config key, field, default) of every ``LabellerConfig`` field: the keys follow the
    dataclass, so a new field is a new key without editing this file."""
    from lumbarseg.postprocess.config import LabellerConfig

    out = []
    for field in dataclasses.fields(LabellerConfig):
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            continue
        out.append((field.name.upper(), field, default))
    return out


def add_labeller_config(cfg: CN) -> None:
    """``LUMBARSEG.LABELLER.<FIELD>``: the labeller's settings (``LabellerConfig``, in upper
    case), so a model config or ``KEY VALUE`` overrides on the command line can tune them."""
    cfg.LUMBARSEG.LABELLER = CN()
    for key, _, default in _labeller_fields():
        cfg.LUMBARSEG.LABELLER[key] = tuple(default) if isinstance(default, list) else default


def labeller_config(cfg: CN):
    """The ``LabellerConfig`` a config asks for (defaults for keys it lacks)."""
    from lumbarseg.postprocess.config import LabellerConfig

    node = cfg.LUMBARSEG.get("LABELLER") or {}
    values = {}
    for key, field, default in _labeller_fields():
        if key not in node:
            continue
        value = node[key]
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif isinstance(default, list):
            value = list(value)
        values[field.name] = value
    return LabellerConfig(**values)


def get_cfg() -> CN:
    """Detectron2's default config plus PointRend and lumbarseg keys."""
    cfg = get_detectron2_cfg()
    add_lumbarseg_config(cfg)
    return cfg


def load_config(config_file: str | Path, opts: list[str] | None = None) -> CN:
    """Read a config file (with its ``_BASE_`` chain) and apply ``KEY VALUE`` overrides."""
    cfg = get_cfg()
    path = Path(config_file)
    if not path.is_file():
        raise InputFileError(path, "config file not found")
    try:
        cfg.merge_from_file(str(path))
        cfg.merge_from_list(list(opts or []))
    except (KeyError, ValueError, AssertionError, yaml.YAMLError) as exc:
        raise InputFileError(path, f"invalid config or override: {exc}") from None
    return cfg


def schedule_overrides(max_iter: int) -> list[str]:
    """Overrides for a run of ``max_iter`` iterations: LR steps at 75 % and 90 %, one final
    checkpoint (the CPU configs' recipe, rescaled)."""
    candidates = (int(max_iter * 0.75), int(max_iter * 0.9))
    steps = tuple(sorted({s for s in candidates if 0 < s < max_iter}))
    return ["SOLVER.MAX_ITER", str(max_iter), "SOLVER.STEPS", str(steps),
            "SOLVER.CHECKPOINT_PERIOD", str(max_iter)]


def check_device(cfg: CN) -> None:
    """Refuse a CUDA config on a machine without CUDA instead of failing deep in torch."""
    import torch

    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        raise LumbarsegError(
            f"MODEL.DEVICE is {cfg.MODEL.DEVICE!r} but no CUDA device is available; "
            "add the override 'MODEL.DEVICE cpu' (or use a configs/cpu/ config)"
        )

"""Training: one DefaultTrainer subclass for every lumbarseg config, and its hooks."""

from lumbarseg.engine.trainer import Trainer, register_config_datasets, setup_cfg

__all__ = ["Trainer", "register_config_datasets", "setup_cfg"]

"""Detectron2 configuration with the keys lumbarseg adds (see ``defaults.py``)."""

from lumbarseg.config.defaults import add_lumbarseg_config, get_cfg, load_config

__all__ = ["add_lumbarseg_config", "get_cfg", "load_config"]

"""Deployable models: one-file bundles, TorchScript/ONNX export, the ONNX Runtime predictor.

``lumbarseg.inference`` reaches this package through ``model_configs`` and
``build_predictor`` only; see ``runtime.py``.
"""

from lumbarseg.deploy.bundle import FORMAT_VERSION, Bundle, is_bundle, read_bundle, write_bundle
from lumbarseg.deploy.runtime import RUNTIMES, build_predictor, load_network, model_configs

__all__ = [
    "FORMAT_VERSION", "RUNTIMES", "Bundle", "build_predictor", "is_bundle", "load_network",
    "model_configs", "read_bundle", "write_bundle",
]

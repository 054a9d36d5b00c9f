"""Where inference gets its model: a config + checkpoint or a bundle, run by PyTorch or by
ONNX Runtime.

``lumbarseg.inference`` calls two functions here: ``model_configs`` (the configs and the
weights' identities) and ``build_predictor`` (an object with ``padded_shape(sample)`` and
``__call__(batch) -> compact detections``, like ``BatchPredictor``). ONNX Runtime was
picked over OpenVINO by measurement (README, "Deployment"): at full precision it was the
faster of the two on the 2-core CPU, and its outputs match PyTorch's to float rounding.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from detectron2.config import CfgNode

from lumbarseg.deploy.bundle import Bundle, is_bundle, labeller_settings, read_bundle
from lumbarseg.errors import InputFileError, LumbarsegError, one_line

logger = logging.getLogger("lumbarseg.deploy")

RUNTIMES = ("pytorch", "onnxruntime")


def model_configs(options: Any) -> tuple[list[CfgNode], list[str]]:
    """Configs of the model (and the fused second model), and the weights they go with.

    A bundle (``options.config`` ending in ``.lsm``, what ``infer --model`` sets) carries
    its own config; ``options.opts`` overrides apply to it as to a config file.
    """
    from lumbarseg.config import load_config

    if options.fuse_config and not options.fuse_weights:
        raise LumbarsegError("--fuse-config needs --fuse-weights")
    if is_bundle(options.config):
        bundle = read_bundle(options.config)
        _check_labeller(bundle, options.use_postprocess)
        cfgs = [bundle.load_config(options.opts)]
    else:
        cfgs = [load_config(options.config, options.opts)]
    weights = [options.weights]
    if options.fuse_config:
        cfgs.append(load_config(options.fuse_config, options.opts))
        weights.append(options.fuse_weights)
    return cfgs, weights


def _check_labeller(bundle: Bundle, use_postprocess: bool) -> None:
    recorded = bundle.manifest.get("labeller") or {}
    if recorded and recorded != labeller_settings(recorded.get("use_postprocess", True)):
        logger.warning("%s: the bundle was made with other labeller settings than this "
                       "lumbarseg's; its levels may differ from the bundle's evaluation",
                       bundle.path)
    if recorded.get("use_postprocess") is False and use_postprocess:
        logger.warning("%s: the bundle was evaluated without the labeller", bundle.path)


def load_network(cfg: CfgNode, weights: str) -> torch.nn.Module:
    """The model in eval mode, from a checkpoint (Detectron2's loader) or a bundle (weights
    only, strict: every tensor must fit)."""
    from lumbarseg.inference.predictor import load_model

    if not is_bundle(weights):
        return load_model(cfg, weights)
    from detectron2.modeling import build_model

    import lumbarseg.modeling  # noqa: F401  (registers the ROI heads and backbone)

    model = build_model(cfg).eval()
    try:
        model.load_state_dict(read_bundle(weights).state_dict(), strict=True)
    except RuntimeError as exc:
        raise InputFileError(weights, f"weights do not fit the config: {one_line(exc)}") from None
    return model


def build_predictor(options: Any, cfgs: list[CfgNode], weights: list[str], device: str):
    """The predictor ``options.runtime`` asks for."""
    runtime = getattr(options, "runtime", "pytorch")
    if runtime == "pytorch":
        from lumbarseg.inference.predictor import BatchPredictor

        models = [load_network(cfg, w) for cfg, w in zip(cfgs, weights, strict=True)]
        return BatchPredictor(models, cfgs[0], device, amp=options.amp)
    if runtime != "onnxruntime":
        raise LumbarsegError(f"unknown runtime {runtime!r} (choose from {', '.join(RUNTIMES)})")
    if len(cfgs) > 1:
        raise LumbarsegError("--runtime onnxruntime runs one model: drop --fuse-config or use "
                             "--runtime pytorch")
    if not device.startswith("cpu"):
        raise LumbarsegError("--runtime onnxruntime runs on the CPU: use --device cpu")
    onnx = read_bundle(weights[0]).onnx if is_bundle(weights[0]) else None
    if onnx is None:
        from lumbarseg.deploy.export import export_onnx

        logger.info("exporting the network to ONNX (a bundle made by export-model carries it)")
        onnx = export_onnx(load_network(cfgs[0], weights[0]), cfgs[0])
    return OnnxRuntimePredictor(onnx, cfgs[0])


class OnnxRuntimePredictor:
    """Runs the exported network one image at a time (CPU batches gain nothing) and hands
    back the same compact detections as ``BatchPredictor``."""

    def __init__(self, onnx: bytes, cfg: CfgNode, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise LumbarsegError("--runtime onnxruntime needs the onnxruntime package "
                                 "(pip install onnxruntime)") from None
        session_options = ort.SessionOptions()
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session_options.intra_op_num_threads = threads or torch.get_num_threads()
        session_options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(onnx, session_options,
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.names = [o.name for o in self.session.get_outputs()]
        self.channels = len(cfg.MODEL.PIXEL_MEAN)

    def padded_shape(self, sample: dict[str, Any]) -> tuple[int, int]:
        # Images run alone, so any grouping is as good as another.
        return tuple(sample["image"].shape[-2:])

    def predict_one(self, sample: dict[str, Any]) -> dict[str, Any]:
        from detectron2.modeling.postprocessing import detector_postprocess

        from lumbarseg.deploy.export import outputs_to_instances
        from lumbarseg.inference.predictor import compact_instances

        image = sample["image"].float()
        if image.shape[0] != self.channels:
            image = image.expand(self.channels, -1, -1)
        values = self.session.run(None, {self.input_name: image.contiguous().numpy()})
        instances = outputs_to_instances(self.names, values)
        # The same postprocessing as GeneralizedRCNN's: boxes to the original size, masks pasted.
        full = detector_postprocess(instances, sample["height"], sample["width"])
        return compact_instances(full)

    def __call__(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.predict_one(sample) for sample in batch]

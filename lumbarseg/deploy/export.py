"""The network to TorchScript and ONNX, through Detectron2's ``TracingAdapter``.

What is traced is ``model.inference(..., do_postprocess=False)`` on one image: the resized
image in, detections at the resized scale out, masks as the mask head's 28x28 grids. Scaling
boxes to the original image and pasting the masks stay in Python (Detectron2's
``detector_postprocess``), exactly as the PyTorch path does them, so every runtime shares
one postprocessing. Outputs are the ``Instances`` fields in sorted order, then
``image_size``; the ONNX graph names them so.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import torch
from detectron2.config import CfgNode

ONNX_OPSET = 17
INPUT_NAME = "image"


def sample_image(cfg: CfgNode, seed: int = 0) -> torch.Tensor:
    """A realistic network input (C, H, W float) to trace with: a rendered phantom, resized
    by the config's test-time augmentation, so the trace sees real detections."""
    import numpy as np
    from detectron2.data import transforms as T

    from lumbarseg.data.mapper import build_radiograph_augmentation
    from lumbarseg.phantom.render import render_phantom

    gray = np.round(render_phantom(seed).pixels * 255).astype(np.uint8)
    aug = T.AugInput(gray[:, :, None])
    T.AugmentationList(build_radiograph_augmentation(cfg, False))(aug)
    image = aug.image if aug.image.ndim == 3 else aug.image[:, :, None]
    tensor = torch.from_numpy(image.transpose(2, 0, 1).copy()).float()
    return tensor.expand(len(cfg.MODEL.PIXEL_MEAN), -1, -1).contiguous()


def _inference(model: torch.nn.Module, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # ROI masks and resized-scale boxes: postprocessing stays outside the graph.
    return [{"instances": model.inference(inputs, do_postprocess=False)[0]}]


def tracing_adapter(model: torch.nn.Module, image: torch.Tensor):
    """Detectron2's ``TracingAdapter`` around ``model`` (eval mode), fed ``image``."""
    from detectron2.export import TracingAdapter

    model.eval()
    return TracingAdapter(model, [{"image": image}], _inference).eval()


def output_names(model: torch.nn.Module, image: torch.Tensor) -> list[str]:
    """Names of the flattened outputs: sorted ``Instances`` fields, then ``image_size``."""
    with torch.inference_mode():
        instances = _inference(model.eval(), [{"image": image}])[0]["instances"]
    return sorted(instances.get_fields()) + ["image_size"]


class ZeroSafeGroupNorm(torch.nn.Module):
    """GroupNorm on one extra all-zero row, dropped again. The ONNX exporter's GroupNorm
    reshapes to (N, G, -1), which ONNX Runtime rejects for N = 0, i.e. in the mask head of
    an image without detections. Rows are normalised independently, so the other rows'
    values are exactly the stock GroupNorm's."""

    def __init__(self, norm: torch.nn.GroupNorm):
        super().__init__()
        self.groups, self.eps = norm.num_groups, norm.eps
        self.weight, self.bias = norm.weight, norm.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        extra = torch.zeros(1, x.shape[1], x.shape[2], x.shape[3], dtype=x.dtype)
        padded = torch.cat([x, extra])
        normed = torch.nn.functional.group_norm(padded, self.groups, self.weight, self.bias,
                                                self.eps)
        return normed[:-1]


def _onnx_ready(model: torch.nn.Module) -> torch.nn.Module:
    """A copy whose ROI heads' GroupNorms survive zero detections in ONNX Runtime (the
    backbone always sees one image and keeps the stock GroupNorm)."""
    import copy

    model = copy.deepcopy(model).eval()
    for module in list(model.roi_heads.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.GroupNorm) and child.affine:
                setattr(module, name, ZeroSafeGroupNorm(child))
    return model


def export_onnx(model: torch.nn.Module, cfg: CfgNode, image: torch.Tensor | None = None) -> bytes:
    """The ONNX graph (bytes) of ``model``, with dynamic image height/width and
    detection count."""
    image = sample_image(cfg) if image is None else image
    names = output_names(model, image)
    adapter = tracing_adapter(_onnx_ready(model), image)
    dynamic = {INPUT_NAME: {1: "height", 2: "width"}}
    dynamic.update({n: {0: "detections"} for n in names if n != "image_size"})
    buffer = io.BytesIO()
    # Tracing warns about every Python-side shape computation; the parity test is the check.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(adapter, adapter.flattened_inputs, buffer, opset_version=ONNX_OPSET,
                          input_names=[INPUT_NAME], output_names=names,
                          dynamic_axes=dynamic, dynamo=False)
    return buffer.getvalue()


def export_torchscript(model: torch.nn.Module, cfg: CfgNode, path: str | Path,
                       image: torch.Tensor | None = None) -> list[str]:
    """Trace to TorchScript and save it; returns the output names (in output order)."""
    from lumbarseg.io.atomic import write_bytes_atomic

    image = sample_image(cfg) if image is None else image
    names = output_names(model, image)
    adapter = tracing_adapter(model, image)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(adapter, adapter.flattened_inputs, check_trace=False)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is what was asked for
        torch.jit.save(traced, buffer)
    write_bytes_atomic(Path(path), buffer.getvalue())
    return names


def outputs_to_instances(names: list[str], values: list[Any]):
    """Flattened outputs (any runtime) -> ``Instances`` at the resized scale."""
    from detectron2.structures import Boxes, Instances

    fields = dict(zip(names, (torch.as_tensor(v) for v in values), strict=True))
    size = fields.pop("image_size")
    instances = Instances((int(size[0]), int(size[1])))
    for name, value in fields.items():
        instances.set(name, Boxes(value) if name == "pred_boxes" else value)
    return instances

"""The exported network (ONNX Runtime, TorchScript) gives PyTorch's detections and masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from detectron2.modeling.postprocessing import detector_postprocess

from lumbarseg.deploy import load_network, read_bundle
from lumbarseg.deploy.export import output_names, outputs_to_instances, sample_image

SEEDS = (11, 12, 13)  # phantoms of different shapes: the graph's sizes are dynamic


def _mask_ious(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    a, b = a.flatten(1).numpy(), b.flatten(1).numpy()
    inter = (a & b).sum(1)
    union = (a | b).sum(1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def _assert_same(reference, other) -> None:
    assert len(reference) > 0  # a comparison of nothing proves nothing
    assert len(other) == len(reference)
    assert torch.equal(other.pred_classes, reference.pred_classes)
    assert torch.allclose(other.scores, reference.scores, atol=1e-4)
    assert torch.allclose(other.pred_boxes.tensor, reference.pred_boxes.tensor, atol=0.05)
    ious = _mask_ious(reference.pred_masks, other.pred_masks)
    assert ious.min() >= 0.99, ious


@pytest.fixture(scope="module")
def network(bundle):
    contents = read_bundle(bundle)
    cfg = contents.load_config()
    return cfg, load_network(cfg, str(bundle)), contents


@pytest.mark.parametrize("seed", SEEDS)
def test_onnxruntime_and_torchscript_match_pytorch(network, bundle, seed):
    import onnxruntime as ort

    cfg, model, contents = network
    image = sample_image(cfg, seed)
    height, width = 2 * image.shape[1], 2 * image.shape[2]  # masks pasted at twice the size
    with torch.inference_mode():
        reference = model([{"image": image, "height": height, "width": width}])[0]["instances"]
    names = output_names(model, image)

    session = ort.InferenceSession(contents.onnx, providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == names
    values = session.run(None, {"image": image.numpy()})
    onnx_out = detector_postprocess(outputs_to_instances(names, values), height, width)
    _assert_same(reference, onnx_out)

    traced = torch.jit.load(str(bundle.with_suffix(".ts")))
    with torch.no_grad():
        ts_values = traced(image)
    ts_out = detector_postprocess(outputs_to_instances(names, list(ts_values)), height, width)
    _assert_same(reference, ts_out)


def test_no_detections_in_onnxruntime(network):
    """An image without detections: ONNX Runtime must say so rather than fail (the mask
    head's GroupNorm then sees zero boxes)."""
    import copy

    import onnxruntime as ort

    from lumbarseg.deploy.export import export_onnx

    cfg, model, _ = network
    model = copy.deepcopy(model)
    model.roi_heads.box_predictor.test_score_thresh = 1.01  # nothing can pass
    image = sample_image(cfg, SEEDS[0])
    with torch.inference_mode():
        assert len(model([{"image": image}])[0]["instances"]) == 0
    session = ort.InferenceSession(export_onnx(model, cfg, image),
                                   providers=["CPUExecutionProvider"])
    values = session.run(None, {"image": image.numpy()})
    names = [o.name for o in session.get_outputs()]
    assert len(outputs_to_instances(names, values)) == 0

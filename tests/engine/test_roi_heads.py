"""LevelScoresROIHeads' vertebra scoring: one detection per body, scored by P(vertebra)."""

from pathlib import Path

import pytest
import torch
from detectron2.modeling import build_model
from detectron2.modeling.poolers import ROIPooler
from detectron2.structures import Boxes

from lumbarseg.config import load_config
from lumbarseg.modeling.roi_heads import ContextROIPooler, enlarge_boxes, vertebra_detections

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

K = 6


def _boxes(*xyxy_per_level: list[float]) -> torch.Tensor:
    """(R, K*4) class-specific boxes; each row repeats one box for every level."""
    return torch.tensor([list(b) * K for b in xyxy_per_level], dtype=torch.float32)


def _probs(*rows: dict[int, float]) -> torch.Tensor:
    """(R, K+1) probabilities; unspecified mass goes to background (last column)."""
    out = torch.zeros(len(rows), K + 1)
    for r, row in enumerate(rows):
        for level, p in row.items():
            out[r, level] = p
        out[r, K] = 1 - sum(row.values())
    return out


def test_a_body_split_between_two_levels_is_one_confident_detection():
    # Stock per-class scoring would give two detections at 0.45, both under a 0.5 cutoff.
    result = vertebra_detections(_boxes([10, 10, 50, 40]), _probs({1: 0.45, 2: 0.45}),
                                 (100, 100), score_thresh=0.5, nms_thresh=0.5, topk=100)
    assert len(result) == 1
    assert abs(float(result.scores[0]) - 0.9) < 1e-5
    assert int(result.pred_classes[0]) == 1
    assert torch.allclose(result.class_scores[0, 1:3], torch.tensor([0.5, 0.5]))
    assert torch.allclose(result.class_scores.sum(dim=1), torch.ones(1))


def test_overlapping_proposals_of_different_levels_keep_the_likelier_vertebra():
    result = vertebra_detections(_boxes([10, 10, 50, 40], [11, 10, 51, 41], [10, 60, 50, 90]),
                                 _probs({2: 0.7}, {3: 0.95}, {4: 0.3}),
                                 (100, 100), score_thresh=0.05, nms_thresh=0.5, topk=100)
    assert result.pred_classes.tolist() == [3, 4]
    assert torch.allclose(result.scores, torch.tensor([0.95, 0.3]))


def test_box_of_the_likeliest_level_and_clipped_to_the_image():
    boxes = torch.zeros(1, K * 4)
    boxes[0, 4 * 3: 4 * 4] = torch.tensor([-5.0, 20.0, 70.0, 130.0])  # level 3's box
    result = vertebra_detections(boxes, _probs({3: 0.8, 0: 0.1}), (100, 60),
                                 score_thresh=0.5, nms_thresh=0.5, topk=100)
    assert result.pred_boxes.tensor.tolist() == [[0.0, 20.0, 60.0, 100.0]]


def test_background_and_topk_filter():
    result = vertebra_detections(_boxes([0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30]),
                                 _probs({0: 0.2}, {1: 0.9}, {2: 0.8}),
                                 (100, 100), score_thresh=0.5, nms_thresh=0.5, topk=1)
    assert result.pred_classes.tolist() == [1]


def test_enlarged_boxes_keep_their_centres():
    boxes = Boxes(torch.tensor([[10.0, 20.0, 30.0, 60.0], [0.0, 0.0, 4.0, 2.0]]))
    enlarged = enlarge_boxes(boxes, 2.0)
    assert torch.allclose(enlarged.get_centers(), boxes.get_centers())
    assert torch.allclose(enlarged.area(), boxes.area() * 4)
    assert enlarged.tensor[0].tolist() == [0.0, 0.0, 40.0, 80.0]


def test_context_pooler_sees_what_lies_around_the_box():
    # One bright spot above the box: outside its own outline, inside the enlarged one.
    pooler = ROIPooler(output_size=7, scales=(1.0,), sampling_ratio=0, pooler_type="ROIAlignV2")
    features = torch.zeros(1, 3, 64, 64)
    features[0, :, 18:22, 30:34] = 1.0
    box = [Boxes(torch.tensor([[24.0, 24.0, 40.0, 40.0]]))]
    pooled = ContextROIPooler(pooler, 2.0)([features], box)
    assert pooled.shape == (1, 6, 7, 7)
    assert torch.equal(pooled[:, :3], pooler([features], box))
    assert float(pooled[:, :3].abs().sum()) == 0.0
    assert float(pooled[:, 3:].sum()) > 0.0
    # The enlarged box is read with 2 x 2 samples per bin, whatever the tight pooler's sampling.
    fixed = ROIPooler(output_size=7, scales=(1.0,), sampling_ratio=2, pooler_type="ROIAlignV2")
    assert torch.equal(pooled[:, 3:], fixed([features], [enlarge_boxes(box[0], 2.0)]))


def test_context_scale_builds_a_box_head_for_twice_the_channels():
    cfg = load_config(CONFIGS / "cpu/mask_rcnn_R_18_FPN.yaml",
                      ["MODEL.ROI_BOX_HEAD.CONTEXT_SCALE", "2.0"])
    heads = build_model(cfg).roi_heads
    assert isinstance(heads.box_pooler, ContextROIPooler)
    channels, size = cfg.MODEL.FPN.OUT_CHANNELS, cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION
    assert heads.box_head.fc1.in_features == 2 * channels * size * size
    assert not isinstance(heads.mask_pooler, ContextROIPooler)
    cfg.MODEL.ROI_BOX_HEAD.CONTEXT_SCALE = 0.5
    with pytest.raises(ValueError, match="CONTEXT_SCALE"):
        build_model(cfg)

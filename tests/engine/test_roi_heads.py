"""LevelScoresROIHeads' vertebra scoring: one detection per body, scored by P(vertebra)."""

import torch

from lumbarseg.modeling.roi_heads import vertebra_detections

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

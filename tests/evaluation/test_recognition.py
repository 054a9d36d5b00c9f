"""Detection, recognition (IoU and centroid rules) and sequence outcomes on hand-built cases."""

from __future__ import annotations

import numpy as np

from lumbarseg.evaluation.recognition import components_as_predictions, level_outcome, match
from lumbarseg.evaluation.rle import encode_mask
from lumbarseg.evaluation.structures import (
    ImageGroundTruth,
    empty_predictions,
    predictions_from_masks,
)

H, W = 100, 60


def _rect(y0, y1, x0=10, x1=50):
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def _gt(masks, levels, spacing=None):
    return ImageGroundTruth(
        image_id=7,
        height=H,
        width=W,
        levels=np.asarray(levels),
        rles=[encode_mask(m) for m in masks],
        boxes=np.zeros((len(masks), 4)),
        iscrowd=np.zeros(len(masks), bool),
        pixel_spacing_mm=spacing,
    )


BODIES = [_rect(5 + 15 * k, 17 + 15 * k) for k in range(6)]
GT = _gt(BODIES, range(6))


def test_all_correct():
    out = level_outcome(GT, predictions_from_masks(np.stack(BODIES), range(6), [0.9] * 6))
    assert out.detected.all() and out.recognized.all() and out.sequence_correct
    assert out.unmatched_predictions == 0 and out.recognized_centroid is None


def test_swapped_labels_are_detected_not_recognised():
    levels = [0, 1, 2, 4, 3, 5]
    out = level_outcome(GT, predictions_from_masks(np.stack(BODIES), levels, [0.9] * 6))
    assert out.detected.all()
    assert out.recognized.tolist() == [True, True, True, False, False, True]
    assert not out.sequence_correct and out.unmatched_predictions == 2


def test_empty_prediction():
    out = level_outcome(GT, empty_predictions())
    assert not out.detected.any() and not out.recognized.any() and not out.sequence_correct


def test_empty_image_with_no_prediction_is_a_correct_sequence():
    empty = _gt([], [])
    assert level_outcome(empty, empty_predictions()).sequence_correct
    fp = predictions_from_masks(BODIES[0][None], [0], [0.9])
    assert not level_outcome(empty, fp).sequence_correct


def test_duplicate_prediction_breaks_the_sequence_only():
    masks = np.stack([*BODIES, _rect(35, 48)])  # a second L3 overlapping L3 with IoU ~0.6
    out = level_outcome(GT, predictions_from_masks(masks, [0, 1, 2, 3, 4, 5, 2], [0.9] * 7))
    assert out.recognized.all() and out.unmatched_predictions == 1 and not out.sequence_correct


def test_low_iou_is_not_found():
    shifted = [_rect(11 + 15 * k, 23 + 15 * k) for k in range(6)]  # IoU 6/18 = 1/3
    out = level_outcome(GT, predictions_from_masks(np.stack(shifted), range(6), [0.9] * 6))
    assert not out.detected.any() and not out.recognized.any()


def test_overlapping_ground_truth_is_matched_one_to_one():
    l4, l5 = _rect(40, 60), _rect(52, 72)  # listhesis: bodies overlap
    gt = _gt([l4, l5], [3, 4])
    # one fused prediction covering both can match at most one of them
    fused = predictions_from_masks(_rect(40, 72)[None], [3], [0.9])
    out = level_outcome(gt, fused)
    assert out.detected.sum() == 1 and out.recognized.tolist() == [True, False]


def test_centroid_rule_uses_spacing():
    body = _rect(40, 52)
    small = np.zeros((H, W), bool)
    small[44:48, 28:32] = True  # same centroid region, tiny mask: IoU << 0.5
    gt = _gt([body], [2], spacing=(1.0, 1.0))
    out = level_outcome(gt, predictions_from_masks(small[None], [2], [0.9]))
    assert not out.recognized[0] and out.recognized_centroid.tolist() == [True]
    far = np.roll(small, 25, axis=0)  # 25 mm away
    out = level_outcome(gt, predictions_from_masks(far[None], [2], [0.9]))
    assert out.recognized_centroid.tolist() == [False]
    coarse = _gt([body], [2], spacing=(5.0, 5.0))  # 0 px away but with wrong level
    out = level_outcome(coarse, predictions_from_masks(small[None], [3], [0.9]))
    assert out.recognized_centroid.tolist() == [False]


def test_centroid_rule_requires_nearest_ground_truth():
    gt = _gt([_rect(40, 52), _rect(55, 67)], [2, 3], spacing=(1.0, 1.0))
    # predicted L3 sits on the L4 body: within 20 mm of L3 but nearest to L4
    out = level_outcome(gt, predictions_from_masks(_rect(55, 67)[None], [2], [0.9]))
    assert out.recognized_centroid.tolist() == [False, False]


def test_components_split_and_fuse():
    label_map = np.zeros((H, W), np.uint8)
    label_map[5:17, 10:50] = 1
    label_map[20:47, 10:50] = 3  # L3 and L4 fused into one L3 blob
    label_map[60:62, 0:2] = 3  # a speck
    preds = components_as_predictions(label_map)
    assert sorted(preds.levels.tolist()) == [0, 2, 2]
    assert len(components_as_predictions(label_map, min_area=5)) == 2
    gt = _gt([_rect(5, 17), _rect(20, 32), _rect(35, 47)], [0, 2, 3])
    out = level_outcome(gt, preds)
    assert out.recognized.tolist() == [True, False, False]  # fused blob IoU 12/27 < 0.5


def test_match_maximises_iou_one_to_one():
    iou = np.array([[0.9, 0.6], [0.7, 0.0]])
    assert sorted(match(iou, 0.5)) == [(0, 1), (1, 0)]
    assert match(np.zeros((0, 3)), 0.5) == []

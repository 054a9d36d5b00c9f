"""FCN label-map metrics and label-map painting against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lumbarseg.evaluation.label_maps import (
    confusion_matrix,
    ground_truth_label_map,
    label_map_scores,
    paint_label_map,
    per_class_dice,
    per_class_iou,
    prediction_label_map,
)
from lumbarseg.evaluation.rle import encode_mask
from lumbarseg.evaluation.structures import (
    ImageGroundTruth,
    predictions_from_masks,
)


def _rect(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_confusion_matrix_and_scores_hand_computed():
    gt = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 1, 2]])
    conf = confusion_matrix(gt, pred)
    assert conf.shape == (7, 7)
    assert conf[0, 0] == 3 and conf[0, 1] == 1 and conf[1, 1] == 3 and conf[1, 2] == 1
    assert conf.sum() == 8
    scores = label_map_scores(conf)
    # t = (4, 4, 0), p = (3, 4, 1); class 2 is predicted but absent from GT -> IoU 0, counts.
    assert scores["pixel_acc"] == pytest.approx(6 / 8)
    assert scores["mean_acc"] == pytest.approx((3 / 4 + 3 / 4) / 2)  # class 2 has no accuracy
    assert scores["mean_iou"] == pytest.approx((3 / 4 + 3 / 5 + 0) / 3)
    assert scores["fw_iou"] == pytest.approx((4 * 3 / 4 + 4 * 3 / 5) / 8)
    dice = per_class_dice(conf)
    assert dice[1] == pytest.approx(2 * 3 / (4 + 4))
    assert math.isnan(dice[3])


def test_all_correct_gives_one():
    gt = np.array([[0, 1, 1], [2, 2, 6]])
    scores = label_map_scores(confusion_matrix(gt, gt.copy()))
    assert scores == pytest.approx({"pixel_acc": 1, "mean_acc": 1, "mean_iou": 1, "fw_iou": 1})


def test_classes_absent_from_both_are_left_out():
    gt = np.array([[0, 0, 3, 3]])
    pred = np.array([[0, 3, 3, 3]])
    conf = confusion_matrix(gt, pred)
    iou = per_class_iou(conf)
    assert np.isnan(iou[[1, 2, 4, 5, 6]]).all()
    scores = label_map_scores(conf)
    assert scores["mean_iou"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert scores["mean_acc"] == pytest.approx((1 / 2 + 1) / 2)


def test_empty_prediction():
    gt = np.zeros((4, 5), int)
    gt[1:3, 1:4] = 2  # 6 vertebra pixels, 14 background
    scores = label_map_scores(confusion_matrix(gt, np.zeros_like(gt)))
    assert scores["pixel_acc"] == pytest.approx(14 / 20)
    assert scores["mean_acc"] == pytest.approx((1 + 0) / 2)
    assert scores["mean_iou"] == pytest.approx((14 / 20 + 0) / 2)
    assert scores["fw_iou"] == pytest.approx(14 * (14 / 20) / 20)


def test_swapped_labels_score_zero_on_levels():
    gt = np.array([[0, 4, 4, 5, 5]])
    pred = np.array([[0, 5, 5, 4, 4]])
    conf = confusion_matrix(gt, pred)
    iou = per_class_iou(conf)
    assert iou[0] == 1 and iou[4] == 0 and iou[5] == 0
    scores = label_map_scores(conf)
    assert scores["pixel_acc"] == pytest.approx(1 / 5)
    assert scores["mean_iou"] == pytest.approx(1 / 3)


def test_empty_matrix_is_nan():
    scores = label_map_scores(np.zeros((7, 7), np.int64))
    assert all(math.isnan(v) for v in scores.values())


def test_paint_order_highest_score_on_top_whatever_the_list_order():
    a = _rect(6, 6, 0, 4, 0, 4)
    b = _rect(6, 6, 2, 6, 2, 6)
    pred = predictions_from_masks(np.stack([a, b]), [2, 3], [0.9, 0.6])
    m = prediction_label_map(pred, 6, 6)
    assert m[3, 3] == 3  # L3 (level index 2, score 0.9) wins the overlap
    assert m[5, 5] == 4 and m[0, 0] == 3 and m[0, 5] == 0
    flipped = predictions_from_masks(np.stack([b, a]), [3, 2], [0.6, 0.9])
    np.testing.assert_array_equal(prediction_label_map(flipped, 6, 6), m)


def test_ground_truth_overlap_lower_level_wins():
    l4 = _rect(8, 4, 0, 5, 0, 4)
    l5 = _rect(8, 4, 3, 8, 0, 4)
    # annotation order S-first must not matter: the caudal level is painted last
    gt = ImageGroundTruth(
        image_id=1,
        height=8,
        width=4,
        levels=np.array([4, 3]),
        rles=[encode_mask(l5), encode_mask(l4)],
        boxes=np.zeros((2, 4)),
        iscrowd=np.array([False, False]),
    )
    m = ground_truth_label_map(gt)
    assert (m[3:5] == 5).all() and (m[:3] == 4).all() and (m[5:] == 5).all()


def test_paint_label_map_stable_for_ties():
    a = _rect(3, 3, 0, 3, 0, 3)
    rles = [encode_mask(a), encode_mask(a)]
    assert (paint_label_map(rles, [1, 2], [0.5, 0.5], 3, 3) == 2).all()

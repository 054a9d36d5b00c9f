"""COCO box/mask AP overall and per level through the accumulator."""

from __future__ import annotations

import math

import pytest

from lumbarseg.evaluation.accumulator import LumbarSegAccumulator
from lumbarseg.evaluation.structures import (
    ground_truth_from_annotations,
    predictions_from_coco_results,
)
from lumbarseg.levels import LEVELS
from tests.helpers.coco import spine_coco

CAT_TO_LEVEL = {i + 1: i for i in range(6)}


def _summarize(coco, results_per_image):
    acc = LumbarSegAccumulator()
    for img in coco["images"]:
        anns = [a for a in coco["annotations"] if a["image_id"] == img["id"]]
        gt = ground_truth_from_annotations(
            img["id"], img["height"], img["width"], anns, CAT_TO_LEVEL
        )
        preds = predictions_from_coco_results(
            results_per_image(img["id"], anns), img["height"], img["width"], CAT_TO_LEVEL
        )
        acc.add(gt, predictions=preds)
    return acc.summarize()


def test_predictions_equal_to_ground_truth_give_ap_100():
    coco = spine_coco()
    res = _summarize(coco, lambda _id, anns: [dict(a, score=0.8) for a in anns])
    for task in ("segm", "bbox"):
        assert res[task]["AP"] == 100.0
        assert all(res[task][f"AP-{level}"] == 100.0 for level in LEVELS)
    assert res["labelmap"]["mean_iou"] == 100.0
    assert res["levels"]["sequence_accuracy"] == 100.0


def test_empty_predictions_give_ap_0():
    res = _summarize(spine_coco(), lambda _id, anns: [])
    assert res["segm"]["AP"] == 0.0 and res["bbox"]["AP-L3"] == 0.0
    assert res["levels"]["recognition"] == 0.0 and res["levels"]["detection"] == 0.0
    assert res["labelmap"]["mean_acc"] == pytest.approx(
        100.0 / 7
    )  # background right, every level wrong


def test_swapped_levels_lose_their_ap_only():
    def swap(_id, anns):
        out = []
        for a in anns:
            cat = {4: 5, 5: 4}.get(a["category_id"], a["category_id"])
            out.append(dict(a, category_id=cat, score=0.9))
        return out

    res = _summarize(spine_coco(), swap)
    assert res["segm"]["AP-L4"] == 0.0 and res["segm"]["AP-L5"] == 0.0
    assert res["segm"]["AP-L3"] == 100.0
    assert res["levels"]["recognition-L4"] == 0.0 and res["levels"]["detection-L4"] == 100.0
    assert res["levels"]["sequence_accuracy"] == 0.0


def test_level_without_ground_truth_is_nan():
    coco = spine_coco(n_images=1)
    coco["annotations"] = [a for a in coco["annotations"] if a["category_id"] != 6]
    res = _summarize(coco, lambda _id, anns: [dict(a, score=0.9) for a in anns])
    assert math.isnan(res["segm"]["AP-S1"]) and math.isnan(res["levels"]["recognition-S1"])
    assert math.isnan(res["levels"]["dice-S1"]) and res["levels"]["dice-L2"] == 100.0


def test_the_threshold_reads_the_detection_score_where_results_give_one():
    """A labeller's result ranks by detection score x level confidence; a body found with a
    sure detection but an uncertain level (0.9 x 0.45) still counts as found and, its level
    being right, recognised. Results without ``detection_score`` keep the old rule."""

    def uncertain(_id, anns, detection=0.9):
        out = []
        for a in anns:
            entry = dict(a, score=round(0.9 * 0.45, 5))
            if detection is not None:
                entry["detection_score"] = detection
            out.append(entry)
        return out

    res = _summarize(spine_coco(), uncertain)
    assert res["levels"]["detection"] == 100.0 and res["levels"]["recognition"] == 100.0
    unsure = _summarize(spine_coco(), lambda i, a: uncertain(i, a, detection=0.3))
    assert unsure["levels"]["detection"] == 0.0
    old_rule = _summarize(spine_coco(), lambda i, a: uncertain(i, a, detection=None))
    assert old_rule["levels"]["detection"] == 0.0
    # AP ranks by ``score`` either way: the same ranking gives the same AP.
    assert res["segm"]["AP"] == old_rule["segm"]["AP"] == 100.0

"""Detectron2's own COCOEvaluator on a lumbarseg-registered dataset agrees with lumbarseg."""

from __future__ import annotations

import json
import math
import uuid

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import COCOEvaluator

from lumbarseg.cli import main
from lumbarseg.data.register import register_lumbarseg_dataset
from lumbarseg.evaluation import LumbarSegEvaluator
from lumbarseg.evaluation.report import RESULTS_STEM
from tests.helpers.coco import noisy_predictions, spine_coco

from .test_evaluator_offline_parity import _instances

LEVEL_NAMES = ("L1", "L2", "L3", "L4", "L5", "S1")
# File category ids that are neither 0..5 nor 1..6, so a missing id mapping cannot score
# right by accident: in level order (CVAT-style numbering), and reversed. Stock Detectron2
# names per-class APs by sorted file id, so with reversed ids only overall APs are comparable.
ORDERED = {k: 10 + k for k in range(1, 7)}
REVERSED = {k: 17 - k for k in range(1, 7)}


def _renumbered(coco: dict, results: list[dict], ids: dict) -> tuple[dict, list[dict]]:
    coco = json.loads(json.dumps(coco))
    for category in coco["categories"]:
        category["id"] = ids[category["id"]]
    for ann in coco["annotations"]:
        ann["category_id"] = ids[ann["category_id"]]
    results = [dict(r, category_id=ids[r["category_id"]]) for r in results]
    return coco, results


@pytest.fixture(params=[ORDERED, REVERSED], ids=["ordered_ids", "reversed_ids"])
def registered(tmp_path, request):
    base = spine_coco()
    results = noisy_predictions(base)
    for r in results:  # float32 scores, as a model gives them
        r["score"] = float(np.float32(r["score"]))
    # Model outputs use contiguous classes (level index), whatever the file's ids are.
    model_instances = {img["id"]: _instances(base, results, img) for img in base["images"]}
    coco, source_results = _renumbered(base, results, request.param)
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(coco))
    name = f"lumbarseg_stock_eval_{uuid.uuid4().hex}"
    register_lumbarseg_dataset(name, gt_path, tmp_path)
    yield name, coco, gt_path, model_instances, source_results, request.param
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def _run(evaluator, coco, model_instances):
    evaluator.reset()
    for image in coco["images"]:
        inputs = [{"image_id": image["id"], "height": image["height"], "width": image["width"]}]
        evaluator.process(inputs, [{"instances": model_instances[image["id"]]}])
    return evaluator.evaluate()


def test_metadata_maps_file_ids_to_contiguous_classes(registered):
    name, ids = registered[0], registered[-1]
    meta = MetadataCatalog.get(name)
    assert meta.thing_dataset_id_to_contiguous_id == {ids[k]: k - 1 for k in range(1, 7)}
    assert tuple(meta.thing_classes) == LEVEL_NAMES


def test_stock_coco_evaluator_matches_lumbarseg(registered, tmp_path, capsys):
    name, coco, gt_path, model_instances, source_results, ids = registered
    stock_dir = tmp_path / "stock"
    stock = _run(
        COCOEvaluator(name, tasks=("bbox", "segm"), distributed=False,
                      output_dir=str(stock_dir), use_fast_impl=False),
        coco, model_instances,
    )
    ours = _run(LumbarSegEvaluator(name, distributed=False), coco, model_instances)

    # The stock evaluator wrote the file's own category ids, so its results file
    # is what the source predictions say (same categories per image and score).
    written = json.loads((stock_dir / "coco_instances_results.json").read_text())
    key = lambda r: (r["image_id"], round(r["score"], 6))  # noqa: E731
    assert sorted((key(r), r["category_id"]) for r in written) == sorted(
        (key(r), r["category_id"]) for r in source_results
    )

    pred_path = tmp_path / "pred.json"
    pred_path.write_text(json.dumps(source_results))
    assert main(["evaluate", "--predictions", str(pred_path), "--gt", str(gt_path),
                 "--out", str(tmp_path / "cli")]) == 0
    capsys.readouterr()
    cli = json.loads((tmp_path / "cli" / f"{RESULTS_STEM}.json").read_text())

    compared = ["AP", "AP50", "AP75"]
    if ids is ORDERED:
        compared += [f"AP-{level}" for level in LEVEL_NAMES]
    for task in ("segm", "bbox"):
        assert 0 < stock[task]["AP"] < 100
        for k in compared:
            assert math.isclose(stock[task][k], ours[task][k], abs_tol=1e-9), (task, k)
            assert math.isclose(stock[task][k], cli[task][k], abs_tol=1e-9), (task, k)


def test_training_predictions_keep_the_dataset_ids(registered, tmp_path):
    """LumbarSegEvaluator's saved predictions are Detectron2's coco_instances_results.json,
    with the dataset file's category and image ids, and score as the evaluator did."""
    from lumbarseg.evaluation import evaluate_coco_files
    from lumbarseg.evaluation.evaluator import PREDICTIONS_FILE

    name, coco, gt_path, model_instances, source_results, _ = registered
    out = tmp_path / "eval"
    ours = _run(LumbarSegEvaluator(name, output_dir=str(out), distributed=False),
                coco, model_instances)
    assert PREDICTIONS_FILE == "coco_instances_results.json"
    written = json.loads((out / PREDICTIONS_FILE).read_text())
    key = lambda r: (r["image_id"], round(r["score"], 6), r["category_id"])  # noqa: E731
    assert sorted(map(key, written)) == sorted(map(key, source_results))
    offline = evaluate_coco_files(out / PREDICTIONS_FILE, gt_path)
    for task in ("segm", "bbox"):
        assert offline[task]["AP"] == ours[task]["AP"]


def test_trainer_evaluates_into_detectron2s_inference_folder(registered, tmp_path):
    from lumbarseg.config import get_cfg
    from lumbarseg.engine import Trainer

    name = registered[0]
    cfg = get_cfg()
    cfg.OUTPUT_DIR = str(tmp_path / "run")
    cfg.DATASETS.TEST = (name,)
    assert Trainer.build_evaluator(cfg, name)._output_dir == str(tmp_path / "run" / "inference")
    cfg.DATASETS.TEST = (name, "other")
    assert Trainer.build_evaluator(cfg, name)._output_dir == str(
        tmp_path / "run" / "inference" / name
    )

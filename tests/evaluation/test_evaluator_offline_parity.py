"""LumbarSegEvaluator (Detectron2) and ``lumbarseg evaluate`` give identical numbers."""

from __future__ import annotations

import json
import math
import uuid

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.structures import Boxes, Instances

from lumbarseg.cli import main
from lumbarseg.evaluation import LumbarSegEvaluator, evaluate_coco_files
from lumbarseg.evaluation.evaluator import PREDICTIONS_FILE
from lumbarseg.evaluation.label_maps import ground_truth_label_map
from lumbarseg.evaluation.offline import load_coco_ground_truth
from lumbarseg.evaluation.report import RESULTS_STEM
from tests.helpers.coco import noisy_predictions, spine_coco


def _same(a, b):
    assert a.keys() == b.keys()
    for task in a:
        assert a[task].keys() == b[task].keys(), task
        for key, value in a[task].items():
            other = b[task][key]
            assert (math.isnan(value) and math.isnan(other)) or value == other, (task, key)


@pytest.fixture
def dataset(tmp_path):
    coco = spine_coco()
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(coco))
    name = f"lumbarseg_eval_test_{uuid.uuid4().hex}"
    register_coco_instances(name, {}, str(gt_path), str(tmp_path))
    yield name, coco, gt_path
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def _instances(coco, results, image):
    h, w = image["height"], image["width"]
    mine = [r for r in results if r["image_id"] == image["id"]]
    inst = Instances((h, w))
    masks = [
        mask_util.decode(mask_util.merge(mask_util.frPyObjects(r["segmentation"], h, w)))
        for r in mine
    ]
    inst.pred_masks = torch.as_tensor(np.stack(masks).astype(bool))
    boxes = np.array([r["bbox"] for r in mine], np.float32)
    boxes[:, 2:] += boxes[:, :2]
    inst.pred_boxes = Boxes(torch.as_tensor(boxes))
    inst.scores = torch.tensor([r["score"] for r in mine], dtype=torch.float32)
    inst.pred_classes = torch.tensor([r["category_id"] - 1 for r in mine])
    return inst


def test_evaluator_and_cli_agree(dataset, tmp_path, capsys):
    name, coco, gt_path = dataset
    results = noisy_predictions(coco)
    # scores as float32, as a model would give them, so both paths see the same numbers
    for r in results:
        r["score"] = float(np.float32(r["score"]))
    pred_path = tmp_path / "pred.json"
    pred_path.write_text(json.dumps(results))

    evaluator = LumbarSegEvaluator(name, output_dir=str(tmp_path / "eval"))
    evaluator.reset()
    for image in coco["images"]:
        inputs = [{"image_id": image["id"], "height": image["height"], "width": image["width"]}]
        evaluator.process(inputs, [{"instances": _instances(coco, results, image)}])
    from_evaluator = evaluator.evaluate()

    assert (
        main(
            [
                "evaluate",
                "--predictions",
                str(pred_path),
                "--gt",
                str(gt_path),
                "--out",
                str(tmp_path / "cli"),
            ]
        )
        == 0
    )
    table = capsys.readouterr().out
    assert "| mask AP |" in table and "| L4 |" in table
    from_cli = json.loads((tmp_path / "cli" / f"{RESULTS_STEM}.json").read_text())
    offline = evaluate_coco_files(pred_path, gt_path)

    _same(from_evaluator, offline)
    assert from_cli["levels"]["recognition"] == pytest.approx(offline["levels"]["recognition"])
    # the evaluator's spacing came from the COCO file: the centroid rule ran on both paths
    assert "recognition_centroid" in from_evaluator["levels"]
    # the case has known errors: swapped L4/L5, a confident false positive, a missing L1
    assert from_evaluator["levels"]["recognition-L4"] == pytest.approx(200 / 3)
    assert from_evaluator["levels"]["sequence_accuracy"] == pytest.approx(100 / 3)
    assert 0 < from_evaluator["segm"]["AP"] < 100

    # the evaluator's saved predictions reproduce its numbers offline
    saved = tmp_path / "eval" / PREDICTIONS_FILE
    _same(from_evaluator, evaluate_coco_files(saved, gt_path))
    assert (tmp_path / "eval" / f"{RESULTS_STEM}.md").read_text().startswith("Evaluation on 3")


def test_semantic_outputs_skip_ap(dataset):
    name, coco, gt_path = dataset
    images, _ = load_coco_ground_truth(gt_path)
    evaluator = LumbarSegEvaluator(name)
    evaluator.reset()
    for gt in images:
        label_map = ground_truth_label_map(gt)
        if gt.image_id == 101:
            label_map[label_map == 3] = 4  # L3 painted as L4: a second L4 blob
        logits = torch.nn.functional.one_hot(torch.as_tensor(label_map).long(), 7)
        evaluator.process(
            [{"image_id": gt.image_id}], [{"sem_seg": logits.permute(2, 0, 1).float()}]
        )
    res = evaluator.evaluate()
    assert "segm" not in res and "bbox" not in res
    assert res["levels"]["recognition-L1"] == 100.0
    assert res["levels"]["recognition-L3"] == pytest.approx(200 / 3)
    assert res["levels"]["sequence_accuracy"] == pytest.approx(200 / 3)
    assert 90 < res["labelmap"]["pixel_acc"] < 100


def test_cli_bad_prediction_file_is_one_line(tmp_path, capsys):
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(spine_coco()))
    bad = tmp_path / "pred.json"
    bad.write_text(
        json.dumps([{"image_id": 999, "category_id": 1, "segmentation": [], "score": 1}])
    )
    assert main(["evaluate", "--predictions", str(bad), "--gt", str(gt_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pred.json" in err and "999" in err
    bad.write_text("{not json")
    assert main(["evaluate", "--predictions", str(bad), "--gt", str(gt_path)]) == 2
    assert "pred.json: invalid JSON (line 1" in capsys.readouterr().err


class _ReplayModel(torch.nn.Module):
    """Stands in for a trained model: returns saved predictions for each input image."""

    def __init__(self, coco, results):
        super().__init__()
        self.outputs = {img["id"]: _instances(coco, results, img) for img in coco["images"]}

    def forward(self, batch):
        return [{"instances": self.outputs[x["image_id"]]} for x in batch]


def test_runs_under_detectron2_inference_and_hooks(dataset):
    from detectron2.evaluation import inference_on_dataset, print_csv_format
    from detectron2.evaluation.testing import flatten_results_dict

    name, coco, gt_path = dataset
    results = noisy_predictions(coco, seed=1)
    loader = [[{"image_id": img["id"]}] for img in coco["images"]]
    res = inference_on_dataset(_ReplayModel(coco, results), loader, LumbarSegEvaluator(name))
    assert list(res) == ["segm", "bbox", "labelmap", "levels"]
    flat = flatten_results_dict(res)
    assert all(isinstance(v, float) for v in flat.values())  # what EvalHook requires
    assert "levels/recognition" in flat and "labelmap/mean_iou" in flat
    print_csv_format(res)


def test_semantic_output_with_wrong_channels_is_refused(dataset):
    from lumbarseg.errors import LumbarsegError

    name, coco, _ = dataset
    evaluator = LumbarSegEvaluator(name)
    img = coco["images"][0]
    with pytest.raises(LumbarsegError, match="sem_seg"):
        evaluator.process(
            [{"image_id": img["id"]}], [{"sem_seg": torch.zeros(6, img["height"], img["width"])}]
        )

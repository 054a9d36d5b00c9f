"""The main job end to end at toy scale: every stage runs and hands the next real files."""

from __future__ import annotations

import json
import math

import highdicom as hd
from pycocotools.coco import COCO

from lumbarseg.demo import DEFAULT_CONFIG, DemoOptions, _recipe_fingerprint, run_demo
from lumbarseg.evaluation import evaluate_coco_files, write_results
from lumbarseg.levels import LEVELS


def test_demo_runs_the_whole_chain_and_reuses_the_model(tmp_path, capsys):
    # A 3-iteration model labels a handful of bodies or none, by its seed: a fixed one keeps
    # the SEG export tested (the demo trains the same model from the same seed).
    options = DemoOptions(out=str(tmp_path / "demo"), n_images=20, size=256, max_iter=3,
                          opts=("INPUT.MIN_SIZE_TRAIN", "(160,)", "INPUT.MIN_SIZE_TEST", "160",
                                "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.05", "SEED", "3"))
    assert run_demo(options) == 0
    out = tmp_path / "demo"
    run = out / "run"

    # Held-out images are the test split's DICOMs and nothing else.
    test_split = json.loads((out / "coco" / "annotations_test.json").read_text())
    heldout = sorted(p for p in (out / "heldout_dicom").rglob("*.dcm"))
    assert len(heldout) == len(test_split["images"]) > 0
    train_keys = {i["patient_key"] for i in json.loads(
        (out / "coco" / "annotations_train.json").read_text())["images"]}
    assert train_keys.isdisjoint({i["patient_key"] for i in test_split["images"]})

    # The export evaluates in pycocotools against the aligned ground truth.
    gt = COCO(str(out / "heldout_gt_aligned.json"))
    images = json.loads((run / "images.json").read_text())["images"]
    assert {i["id"] for i in images} <= set(gt.getImgIds())
    if json.loads((run / "predictions.json").read_text()):
        gt.loadRes(str(run / "predictions.json"))
    results = json.loads((run / "evaluation" / "lumbarseg_evaluation.json").read_text())
    assert results["levels"]["images"] == len(test_split["images"])
    # Every ground-truth vertebra of the held-out split was counted, and the stored metrics
    # are those of the run's own exported files against the aligned ground truth.
    assert sum(results["levels"][f"gt-{lv}"] for lv in LEVELS) == len(gt.getAnnIds()) > 0
    again = evaluate_coco_files(run / "predictions.json", out / "heldout_gt_aligned.json")
    again_path, _ = write_results(again, tmp_path / "again")  # the same NaN -> null rule
    assert math.isfinite(results["labelmap"]["pixel_acc"])
    assert results["labelmap"] == json.loads(again_path.read_text())["labelmap"]

    # One DICOM SEG per image with vertebrae, reading back with exactly its levels; the
    # report exists and names every held-out image.
    records = [json.loads(p.read_text()) for p in sorted((run / "per_image").glob("*.json"))]
    with_levels = {r["image_key"]: {v["level"] for v in r["vertebrae"]}
                   for r in records if r["vertebrae"]}
    assert with_levels, "the toy model labelled no vertebra: the SEG export went untested"
    assert {p.stem for p in (run / "seg").glob("*.dcm")} == set(with_levels)
    for key, levels in with_levels.items():
        seg = hd.seg.segread(run / "seg" / f"{key}.dcm")
        assert seg.Modality == "SEG"
        assert {d.SegmentLabel for d in seg.SegmentSequence} == levels
    report = (run / "report" / "index.html").read_text()
    for image in images:
        assert image["image_key"] in report
    printed = capsys.readouterr().out
    assert "mean IoU" in printed and "total" in printed

    # A second run reuses the trained model instead of training again.
    weights = out / "model" / "model_final.pth"
    mtime = weights.stat().st_mtime_ns
    assert run_demo(options) == 0
    assert weights.stat().st_mtime_ns == mtime
    assert "reusing" in capsys.readouterr().out


def test_the_same_recipe_trains_the_same_model(tmp_path):
    # Different folders, so new key secrets and paths: neither may change the split or the model.
    # Two training processes (--train-processes 2; the default is one): their gradient exchange
    # and per-process augmentation streams must not make the weights differ between runs.
    import torch

    weights = []
    for name in ("first", "second"):
        options = DemoOptions(out=str(tmp_path / name), n_images=12, size=192, max_iter=2,
                              train_processes=2,
                              opts=("INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MIN_SIZE_TEST", "128"))
        assert run_demo(options) == 0
        assert (tmp_path / name / "model" / "log.txt.rank1").is_file()
        weights.append(torch.load(tmp_path / name / "model" / "model_final.pth",
                                  map_location="cpu", weights_only=False)["model"])
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_a_change_in_a_base_config_means_retraining(tmp_path):
    # The CPU recipe lives in configs/cpu/Base-CPU.yaml, not in the file the demo names: a
    # changed base must not let an old model be reused as if it were the recipe's.
    base = tmp_path / "Base.yaml"
    child = tmp_path / "child.yaml"
    base.write_text(f'_BASE_: "{DEFAULT_CONFIG}"\nSOLVER:\n  MAX_ITER: 7\n')
    child.write_text('_BASE_: "Base.yaml"\n')
    options = DemoOptions(config=str(child))
    before = _recipe_fingerprint(options)
    assert _recipe_fingerprint(options) == before
    base.write_text(f'_BASE_: "{DEFAULT_CONFIG}"\nSOLVER:\n  MAX_ITER: 8\n')
    assert _recipe_fingerprint(options) != before
    assert _recipe_fingerprint(DemoOptions(config=str(child), opts=("SOLVER.MAX_ITER", "9"))) \
        != _recipe_fingerprint(options)

"""`lumbarseg infer` end to end on a messy folder of real DICOM files, on CPU."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from lumbarseg.cli import main
from lumbarseg.inference.discovery import discover, image_key, parse_shard, shard
from lumbarseg.inference.overlay import BLANK_GRAY
from lumbarseg.inference.writers import OutputFolder
from lumbarseg.io.dicom import PHI_KEYWORDS
from lumbarseg.levels import COCO_CATEGORIES
from tests.helpers.infer_inputs import CPU_CONFIG, OPTS, PHI, gt_coco, make_input_folder

FINAL_FILES = ("predictions.json", "images.json", "summary.csv")


def infer(weights: str, inputs, out: Path, *extra: str, same_keys: bool = False) -> int:
    """Run `lumbarseg infer`; ``same_keys``: with the image-key secret shared by every output
    folder next to ``out`` (to compare outputs byte for byte)."""
    inputs = [str(p) for p in (inputs if isinstance(inputs, list) else [inputs])]
    if same_keys:
        secret = out.parent / "image_secret.txt"
        if not secret.exists():
            secret.write_text("a shared test secret of the image keys\n")
        extra = (*extra, "--image-secret-file", str(secret))
    argv = ["infer", "--config", str(CPU_CONFIG), "--weights", weights, "--input", *inputs,
            "--out", str(out), "--quiet", "--device", "cpu", *extra, *OPTS]
    return main(argv)


def secret_of(out: Path) -> str:
    return (out / "private" / "image_secret.txt").read_text().strip()


def output_bytes(out: Path) -> dict[str, bytes]:
    files = {name: (out / name).read_bytes() for name in FINAL_FILES}
    for path in sorted((out / "per_image").glob("*.json")):
        files[f"per_image/{path.name}"] = path.read_bytes()
    return files


def output_values(out: Path, digits: int = 3) -> dict[str, object]:
    """The outputs parsed, numbers rounded: processes with other thread counts run the same
    model with float sums in another order, so a score's 5th decimal may differ."""
    def rounded(value):
        if isinstance(value, float):
            return round(value, digits)
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rounded(v) for v in value]
        if isinstance(value, str) and re.fullmatch(r"-?\d+\.\d+", value):
            return round(float(value), digits)
        return value

    values = {}
    for name, data in output_bytes(out).items():
        text = data.decode()
        parsed = list(csv.reader(text.splitlines())) if name.endswith(".csv") else json.loads(text)
        values[name] = rounded(parsed)
    return values


def test_discovery_ids_keys_and_shards(input_folder):
    items, skipped = discover([input_folder["root"]])
    assert [it.relative_path for it in items] == sorted(
        input_folder["good"] + input_folder["bad"] + ["study2/report_sr.dcm"])
    assert [it.image_id for it in items] == list(range(1, len(items) + 1))
    assert [s.path for s in skipped] == ["study2/notes.txt"]
    assert all(it.image_key == image_key(it.relative_path) for it in items)
    # Keyed by a secret (as infer does): other keys, none of them the plain hash.
    keyed = discover([input_folder["root"]], "a secret of sixteen+")[0]
    assert [it.image_key for it in keyed] == [
        image_key(it.relative_path, "a secret of sixteen+") for it in items]
    assert not {it.image_key for it in keyed} & {it.image_key for it in items}
    # Keys depend on the relative path only: the same tree elsewhere gets the same keys.
    moved = input_folder["root"].parent / "moved"
    shutil.copytree(input_folder["root"], moved)
    assert [it.image_key for it in discover([moved])[0]] == [it.image_key for it in items]
    parts = [shard(items, i, 3) for i in range(3)]
    ids = [it.image_id for part in parts for it in part]
    assert sorted(ids) == [it.image_id for it in items] and len(set(ids)) == len(ids)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert parse_shard("2/3") == (2, 3)
    with pytest.raises(Exception, match="shard"):
        parse_shard("3/3")


def test_infer_reports_failures_exports_coco_and_keeps_no_phi(input_folder, tiny_weights,
                                                               tmp_path):
    out = tmp_path / "out"
    status = infer(tiny_weights, input_folder["root"], out, "--overlays", "--workers", "1",
                   "--batch-size", "2")
    assert status == 1  # two files failed
    run = json.loads((out / "run.json").read_text())
    # The outputs name images by key; the private linkage maps keys to files.
    linkage = OutputFolder(out).linkage()
    paths = {key: row["relative_path"] for key, row in linkage.items()}
    assert sorted(paths.values()) == sorted(
        input_folder["good"] + input_folder["bad"] + input_folder["skipped"])
    root = input_folder["root"].resolve()
    assert all(Path(row["source_path"]) == root / row["relative_path"]
               for row in linkage.values())
    assert all(set(entry) == {"key", "reason"} for entry in run["failures"] + run["skipped"])
    assert [paths[f["key"]] for f in run["failures"]] == input_folder["bad"]
    reasons = {paths[f["key"]]: f["reason"] for f in run["failures"]}
    assert "truncated" in reasons["study2/truncated.dcm"]
    assert [paths[s["key"]] for s in run["skipped"]] == input_folder["skipped"]
    assert "not an image" in {paths[s["key"]]: s["reason"] for s in run["skipped"]}[
        "study2/report_sr.dcm"]
    assert run["counts"]["ok"] == len(input_folder["good"])
    assert "input_root" not in run and run["keep_paths"] is False

    images = json.loads((out / "images.json").read_text())
    assert sorted(paths[im["image_key"]] for im in images["images"]) == input_folder["good"]
    assert all(im["file_name"] == im["image_key"] for im in images["images"])
    assert images["categories"] == COCO_CATEGORIES
    records = {p.stem: json.loads(p.read_text()) for p in (out / "per_image").glob("*.json")}
    assert set(records) == {im["image_key"] for im in images["images"]}
    for im in images["images"]:
        record = records[im["image_key"]]
        assert record["image_id"] == im["id"] and "relative_path" not in record
        assert (record["height"], record["width"]) == (im["height"], im["width"])
        overlay = cv2.imread(str(out / "overlays" / f"{im['image_key']}.png"))
        assert overlay.shape == (im["height"], im["width"], 3)
    dicom_record = next(r for k, r in records.items() if paths[k].endswith("IM0001"))
    assert dicom_record["pixel_spacing_mm"] == [0.5, 0.5]
    assert dicom_record["pixel_spacing_source"] == "PixelSpacing"
    # BurnedInAnnotation YES: flagged in the record, its overlay drawn without its pixels.
    burned = {paths[k]: r for k, r in records.items() if r["source"].get("burned_in_annotation")}
    assert list(burned) == ["study2/wide.dcm"]
    for key, record in records.items():
        gray = cv2.imread(str(out / "overlays" / f"{key}.png"), cv2.IMREAD_GRAYSCALE)
        outside = np.ones(gray.shape, bool)  # the background: no mask blended over it
        for vertebra in record["vertebrae"]:
            outside &= ~mask_utils.decode(vertebra["segmentation"]).astype(bool)
        assert outside.sum() > 100
        blank = float(np.median(gray[outside])) == BLANK_GRAY
        assert blank == (paths[key] == "study2/wide.dcm"), paths[key]
    png_record = next(r for k, r in records.items() if paths[k].endswith(".png"))
    assert png_record["pixel_spacing_mm"] is None and png_record["pixel_spacing_source"] is None

    # No folder or file name of the input, nor the input folder, outside private/.
    names = {part for rel in paths.values() for part in rel.split("/")} | {str(root)}
    for path in out.rglob("*"):
        if path.is_file() and "private" not in path.relative_to(out).parts:
            data = path.read_bytes()
            for name in names:
                assert name.encode() not in data, f"{name} in {path}"

    rows = (out / "summary.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert "relative_path" not in header and "pixel_spacing_source" in header
    table = {row.split(",")[0]: dict(zip(header, row.split(","), strict=False)) for row in rows}
    key_of = {rel: key for key, rel in paths.items()}
    wide = table[key_of["study2/wide.dcm"]]
    assert wide["pixel_spacing_source"] == "PixelSpacing"
    assert "burned_in_annotation" in wide["flags"].split()
    assert table[key_of["study2/exported.png"]]["pixel_spacing_source"] == ""
    # Keys are keyed by the run's own secret, not a plain hash of the path.
    assert key_of["study2/wide.dcm"] == image_key("study2/wide.dcm", secret_of(out))
    assert key_of["study2/wide.dcm"] != image_key("study2/wide.dcm")
    assert len(rows) == 1 + len(input_folder["good"]) + len(input_folder["bad"]) + 1  # + SR
    assert sum(",failed," in r for r in rows) == 2 and sum(",skipped," in r for r in rows) == 1

    # pycocotools reads the export and evaluates it against the drawn ground truth...
    preds = json.loads((out / "predictions.json").read_text())
    assert preds, "the low threshold should give detections"
    # Ranked by detection score x level confidence; the detection score is kept for the
    # evaluation's threshold, and both match the per-image record.
    found = {(r["image_id"], v["category_id"]): v for r in records.values()
             for v in r["vertebrae"] if v["category_id"] is not None}
    for p in preds:
        v = found[p["image_id"], p["category_id"]]
        assert p["detection_score"] == pytest.approx(v["score"], abs=1e-5)
        assert p["level_confidence"] == pytest.approx(v["level_confidence"], abs=1e-4)
        assert p["score"] == pytest.approx(v["score"] * v["level_confidence"], abs=1e-4)
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(gt_coco(input_folder, out / "images.json")))
    gt = COCO(str(gt_path))
    evaluator = COCOeval(gt, gt.loadRes(str(out / "predictions.json")), "segm")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert {p["image_id"] for p in preds} <= set(gt.getImgIds())
    assert evaluator.eval["precision"].shape[2] == len(COCO_CATEGORIES)
    assert len(evaluator.stats) == 12 and all(-1 <= v <= 1 for v in evaluator.stats)
    # ...and against itself as ground truth every prediction must match perfectly: masks,
    # boxes, image ids and categories of images.json and predictions.json agree.
    self_gt = json.loads((out / "images.json").read_text())
    self_gt["annotations"] = [
        {"id": i + 1, "image_id": p["image_id"], "category_id": p["category_id"],
         "segmentation": p["segmentation"], "bbox": p["bbox"], "iscrowd": 0,
         "area": float(p["bbox"][2] * p["bbox"][3])} for i, p in enumerate(preds)]
    (tmp_path / "self.json").write_text(json.dumps(self_gt))
    coco = COCO(str(tmp_path / "self.json"))
    self_eval = COCOeval(coco, coco.loadRes(str(out / "predictions.json")), "segm")
    self_eval.params.iouThrs = np.array([0.99])
    self_eval.evaluate()
    self_eval.accumulate()
    precision = self_eval.eval["precision"][0, :, :, 0, -1]
    # pycocotools divides by tp + fp + eps: one true positive gives 1 / (1 + eps) < 1.0
    assert np.all(precision[precision > -1] > 1.0 - 1e-9)

    # No patient identifier in any output byte.
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for value in PHI.values():
                assert value.encode() not in data, f"{value} leaked into {path}"
                assert value.split("^")[0].encode() not in data


def test_resume_after_interruption_gives_identical_files(tiny_weights, tmp_path):
    folder = make_input_folder(tmp_path / "in", seed=1)
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    assert infer(tiny_weights, folder["root"], full, "--workers", "0", "--batch-size", "2",
                 same_keys=True) == 1
    # "Interrupted" after 3 images, then resumed to the end.
    infer(tiny_weights, folder["root"], resumed, "--workers", "0", "--batch-size", "2",
          "--max-images", "3", same_keys=True)
    first = json.loads((resumed / "run.json").read_text())
    assert first["complete"] is False and first["counts"]["processed_this_run"] == 3
    assert infer(tiny_weights, folder["root"], resumed, "--workers", "0", "--batch-size", "2",
                 "--resume", same_keys=True) == 1
    run = json.loads((resumed / "run.json").read_text())
    assert run["complete"] is True  # the interrupted block was redone whole
    assert output_bytes(resumed) == output_bytes(full)
    # A lost record is recomputed; nothing else is.
    victim = next((resumed / "per_image").glob("*.json"))
    victim.unlink()
    infer(tiny_weights, folder["root"], resumed, "--workers", "0", "--batch-size", "2",
          "--resume", same_keys=True)
    run = json.loads((resumed / "run.json").read_text())
    assert run["counts"]["done_before"] >= 1
    # Its block (4 batches of 2) is redone, and the 3 files that failed or were skipped retried.
    assert run["counts"]["processed_this_run"] <= 4 * 2 + 3
    assert output_bytes(resumed) == output_bytes(full)


def test_shards_are_disjoint_and_merge_to_the_single_run(tiny_weights, tmp_path):
    folder = make_input_folder(tmp_path / "in", seed=2)
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    infer(tiny_weights, folder["root"], single, "--workers", "0", "--batch-size", "1",
          same_keys=True)
    for index in range(2):
        infer(tiny_weights, folder["root"], sharded, "--workers", "0", "--batch-size", "1",
              "--shard", f"{index}/2", same_keys=True)
        if index == 0:  # the first shard alone does not merge
            assert not (sharded / "predictions.json").exists()
    statuses = [json.loads(p.read_text()) for p in sorted((sharded / "shards").glob("*.json"))]
    assert [s["items_in_shard"] for s in statuses] == [5, 4]
    assert output_bytes(sharded) == output_bytes(single)
    run = json.loads((sharded / "run.json").read_text())
    assert [f["key"] for f in run["failures"]] == [
        image_key(p, (tmp_path / "image_secret.txt").read_text().strip()) for p in folder["bad"]]
    assert OutputFolder(sharded).linkage() == OutputFolder(single).linkage()


def test_keep_phi_adds_identifiers_only_when_asked(input_folder, tiny_weights, tmp_path):
    out = tmp_path / "out"
    # Labelling in a separate process (the CUDA default) also carries the identifiers through.
    infer(tiny_weights, input_folder["root"], out, "--workers", "0", "--keep-phi",
          "--label-workers", "1", "--keep-paths")
    header, *rows = (out / "summary.csv").read_text().splitlines()
    assert header.split(",")[-len(PHI_KEYWORDS):] == list(PHI_KEYWORDS)
    # --keep-paths: relative paths in every output, the input folder in run.json.
    assert header.split(",")[2] == "relative_path"
    run = json.loads((out / "run.json").read_text())
    assert Path(run["input_root"]) == input_folder["root"].resolve()
    assert [(f["path"], set(f)) for f in run["failures"]] == [
        (p, {"key", "path", "reason"}) for p in input_folder["bad"]]
    assert all(f["key"] == image_key(f["path"], secret_of(out))
               for f in run["failures"] + run["skipped"])
    images = json.loads((out / "images.json").read_text())["images"]
    assert sorted(im["file_name"] for im in images) == input_folder["good"]
    assert sum(PHI["PatientID"] in row for row in rows) == 5  # the five good DICOMs
    records = [json.loads(p.read_text()) for p in (out / "per_image").glob("*.json")]
    dicoms = [r for r in records if r["source"]["format"] == "dicom"]
    rasters = [r for r in records if r["source"]["format"] == "raster"]
    assert len(dicoms) == 5 and len(rasters) == 1
    for record in dicoms:
        assert record["relative_path"] in input_folder["good"]
        assert sorted(record["phi"]) == sorted(PHI_KEYWORDS)
        assert record["phi"]["PatientID"] == PHI["PatientID"]
        assert record["phi"]["PatientName"] == PHI["PatientName"]
    assert "phi" not in rasters[0]


def test_single_file_input_is_relative_to_its_folder(input_folder, tiny_weights, tmp_path):
    one = input_folder["root"] / "study2" / "wide.dcm"
    out = tmp_path / "out"
    assert infer(tiny_weights, one, out, "--workers", "0") == 0
    images = json.loads((out / "images.json").read_text())["images"]
    assert [OutputFolder(out).relative_path(im) for im in images] == ["wide.dcm"]


def test_bad_weights_is_a_one_line_error(input_folder, tmp_path, capsys):
    status = infer(str(tmp_path / "missing.pth"), input_folder["root"], tmp_path / "out")
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.pth" in err[0]


def test_fusion_averages_agreeing_models_and_halves_lone_detections():
    import torch
    from detectron2.structures import Boxes, Instances

    from lumbarseg.inference.predictor import fuse_instances

    def instances(boxes, classes, scores):
        out = Instances((32, 32))
        masks = torch.zeros(len(boxes), 32, 32, dtype=torch.bool)
        for i, (x0, y0, x1, y1) in enumerate(boxes):
            masks[i, y0:y1, x0:x1] = True
        out.pred_masks = masks
        out.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
        out.pred_classes = torch.tensor(classes)
        out.scores = torch.tensor(scores)
        out.class_scores = torch.nn.functional.one_hot(torch.tensor(classes), 6).float()
        return out

    a = instances([(0, 0, 16, 8), (0, 12, 16, 20)], [0, 1], [0.9, 0.8])
    b = instances([(0, 0, 16, 9), (0, 24, 16, 31)], [0, 2], [0.7, 0.6])
    fused = fuse_instances([a, b])
    assert len(fused) == 3
    by_class = {int(c): float(s) for c, s in zip(fused.pred_classes, fused.scores, strict=True)}
    assert by_class[0] == pytest.approx((0.9 + 0.7) / 2)  # found by both: mean score
    assert by_class[1] == pytest.approx(0.8 / 2) and by_class[2] == pytest.approx(0.6 / 2)
    assert fused.pred_masks[list(fused.pred_classes).index(0)].sum() == 16 * 8  # best one's mask


@pytest.mark.slow
def test_two_process_launch_merges_like_a_single_run(tiny_weights, tmp_path):
    """Detectron2's launch with 2 CPU processes (gloo): rank shards merged by rank 0."""
    folder = make_input_folder(tmp_path / "in", seed=3)
    single, launched = tmp_path / "single", tmp_path / "launched"
    infer(tiny_weights, folder["root"], single, "--workers", "0", "--batch-size", "1",
          same_keys=True)
    status = infer(tiny_weights, folder["root"], launched, "--workers", "0", "--batch-size", "1",
                   "--num-gpus", "2", same_keys=True)
    assert status == 1  # failures are reported through rank 0's merged run.json
    statuses = sorted((launched / "shards").glob("*.json"))
    assert [p.name for p in statuses] == ["shard-0000-of-0002.json", "shard-0001-of-0002.json"]
    assert output_values(launched) == output_values(single)


def test_compact_instances_round_trips_masks_even_outside_their_boxes():
    import torch
    from detectron2.structures import Boxes, Instances

    from lumbarseg.inference.predictor import compact_instances, expand_instances

    inst = Instances((40, 50))
    masks = torch.zeros(3, 40, 50, dtype=torch.bool)
    masks[0, 5:15, 10:30] = True
    masks[1, 0:3, 0:2] = True
    masks[1, 38:40, 45:50] = True  # far outside its box: must survive
    inst.pred_masks = masks
    inst.pred_boxes = Boxes(torch.tensor([[10, 5, 30, 15], [0, 0, 2, 3], [0, 0, 1, 1.0]]))
    inst.scores = torch.tensor([0.9, 0.5, 0.1])
    inst.pred_classes = torch.tensor([0, 1, 2])
    compact = compact_instances(inst)
    assert compact["mask_crops"][0].shape == (10, 20)
    back = expand_instances(compact)
    assert torch.equal(back.pred_masks, masks)
    assert torch.equal(back.pred_classes, inst.pred_classes)


def test_the_header_says_where_the_feet_are_and_the_labeller_is_told(tmp_path, monkeypatch):
    """A film hung upside down says so in Patient Orientation: the sample, the finishing job
    and the labelling all carry the feet's direction (None where the header is silent)."""
    import torch
    from detectron2.structures import Boxes, Instances

    from lumbarseg.config import load_config
    from lumbarseg.inference.dataset import InferenceDataset
    from lumbarseg.inference.labelling import Labeller
    from lumbarseg.inference.run import FinishJob
    from tests.helpers import dicom_factory as dcm

    folder = tmp_path / "in"
    folder.mkdir()
    dcm.write(folder / "over.dcm", dcm.make_dataset(dcm.ramp(), PatientOrientation=["P", "H"]))
    dcm.write(folder / "plain.dcm", dcm.make_dataset(dcm.ramp()))
    items, _ = discover([folder])
    dataset = InferenceDataset(items, load_config(CPU_CONFIG, OPTS))
    samples = {item.relative_path: dataset[k] for k, item in enumerate(items)}
    assert samples["over.dcm"]["caudal"] == (0.0, -1.0)
    assert samples["plain.dcm"]["caudal"] is None
    job = FinishJob.of(items[0], samples[items[0].relative_path], {})
    assert job.caudal == samples[items[0].relative_path]["caudal"]
    told = []
    import lumbarseg.postprocess as postprocess

    real = postprocess.label_vertebrae
    monkeypatch.setattr(postprocess, "label_vertebrae",
                        lambda *args, **kwargs: told.append(kwargs["caudal"]) or real(*args,
                                                                                      **kwargs))
    empty = Instances((64, 64), pred_boxes=Boxes(torch.zeros((0, 4))), scores=torch.zeros(0),
                      pred_classes=torch.zeros(0, dtype=torch.long),
                      pred_masks=torch.zeros((0, 64, 64), dtype=torch.bool))
    Labeller()(empty, None, None, caudal=(0.0, -1.0))
    assert told == [(0.0, -1.0)]

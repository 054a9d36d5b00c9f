"""Measurements in mm say which pixel spacing they used, also through `lumbarseg label`."""

from __future__ import annotations

import json

from lumbarseg.cli import main
from lumbarseg.evaluation.structures import pixel_spacing_of, pixel_spacing_source_of
from tests.helpers.coco import noisy_predictions, spine_coco


def test_spacing_source_of_an_image_entry():
    converted = {"pixel_spacing_mm": [0.2, 0.2],
                 "pixel_spacing_source": "ImagerPixelSpacing / magnification 1.1"}
    assert pixel_spacing_source_of(converted) == "ImagerPixelSpacing / magnification 1.1"
    assert pixel_spacing_source_of({"pixel_spacing_mm": [0.2, 0.2]}) == "as given"
    phantom = {"lumbarseg_truth": {"pixel_spacing_mm": [0.3, 0.3]}}
    assert pixel_spacing_of(phantom) == (0.3, 0.3)
    assert pixel_spacing_source_of(phantom) == "phantom truth"
    # an unusable own spacing falls back to the truth, and says so
    assert pixel_spacing_source_of({"pixel_spacing_mm": [0, 0], **phantom}) == "phantom truth"
    assert pixel_spacing_source_of({}) is None


def test_label_sidecar_names_the_spacing_source(tmp_path):
    gt = spine_coco(3)
    gt["images"][0].pop("lumbarseg_truth")
    gt["images"][0].update(pixel_spacing_mm=[0.25, 0.25], pixel_spacing_source="PixelSpacing")
    gt["images"][1].pop("lumbarseg_truth")
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(noisy_predictions(gt)))
    assert main(["label", "--predictions", str(tmp_path / "pred.json"), "--images",
                 str(tmp_path / "gt.json"), "--out", str(tmp_path / "out.json")]) == 0
    side = json.loads((tmp_path / "out.sidecar.json").read_text())["images"]
    assert [side[str(img["id"])]["pixel_spacing_source"] for img in gt["images"]] == [
        "PixelSpacing", None, "phantom truth"]

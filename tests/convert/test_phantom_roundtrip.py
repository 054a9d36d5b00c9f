"""Round trip on phantom data: a generated DICOM set, converted --from coco, keeps every
vertebra, the model-input pixels and the patient grouping, and drops patient identifiers."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools.coco import COCO

from lumbarseg.data.convert.pipeline import convert_dataset
from lumbarseg.data.convert.records import ConvertOptions
from lumbarseg.io.radiograph import load_network_input


def test_phantom_coco_round_trip(tmp_path):
    phantom = pytest.importorskip("lumbarseg.phantom")
    source_json = phantom.generate_dataset(tmp_path / "ph", n=6, seed=3, size=256)
    source = COCO(str(source_json))
    result = convert_dataset(
        "coco", [source_json], tmp_path / "out", split=(0.5, 0.25, 0.25), seed=1
    )
    assert result.ok, [i.line() for i in result.errors]
    out = COCO(str(tmp_path / "out" / "annotations.json"))
    assert len(out.imgs) == len(source.imgs)
    warned = {i.where for i in result.issues if i.severity == "warning"}
    by_source = {row["source_annotation"]: out.imgs[row["image_id"]] for row in result.linkage}
    split_of = {i: name for name, ids in result.splits.items() for i in ids}
    patient_split: dict[str, set] = {}
    for image in source.imgs.values():
        where = f"{source_json}[{image['file_name']}]"
        converted = by_source[where]
        # model input identical to what inference computes from the DICOM
        np.testing.assert_array_equal(
            load_network_input(tmp_path / "out" / converted["file_name"]),
            load_network_input(tmp_path / "ph" / image["file_name"]),
        )
        patient_split.setdefault(image["patient_id"], set()).add(
            (converted["patient_key"], split_of[converted["id"]])
        )
        got = {a["category_id"]: a for a in out.loadAnns(out.getAnnIds(imgIds=converted["id"]))}
        for ann in source.loadAnns(source.getAnnIds(imgIds=image["id"])):
            if ann["category_id"] not in got:
                assert where in warned  # a dropped vertebra is always reported
                continue
            a = source.annToMask(ann).astype(bool)
            mine = got[ann["category_id"]]
            b = out.annToMask(mine).astype(bool)
            assert (a & b).sum() / (a | b).sum() > 0.95
            np.testing.assert_allclose(mine["corners"], ann["corners"], atol=0.01)
    # one key and one split per phantom patient
    assert all(len(v) == 1 for v in patient_split.values())
    # no identifier and no source path in the shareable JSON by default
    text = (tmp_path / "out" / "annotations.json").read_text()
    assert "source_file" not in text and str(tmp_path) not in text
    assert not any(patient_id in text for patient_id in patient_split)
    kept = convert_dataset(
        "coco", [source_json], tmp_path / "out2", ConvertOptions(keep_source_paths=True)
    )
    assert kept.ok and all(i["source_file"].startswith(str(tmp_path)) for i in kept.images)

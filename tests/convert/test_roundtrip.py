"""Round trips: each input format, written here, converts to the same vertebrae in COCO."""

from __future__ import annotations

import base64
import json

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from lumbarseg.cli import main
from lumbarseg.data.convert.pipeline import convert_dataset
from lumbarseg.data.convert.private import read_secret_file
from lumbarseg.data.convert.records import ConvertOptions
from lumbarseg.io.radiograph import load_network_input
from lumbarseg.levels import COCO_CATEGORIES, LEVELS

SPELLINGS = {"L1": "l1", "L2": "L-2", "L3": "Lumbar 3", "L4": "L4", "L5": "L V", "S1": "sacrum"}


def write_via(folder, scene, images):
    metadata = {}
    for name in images:
        regions = [
            {
                "shape_attributes": {
                    "name": "polygon",
                    "all_points_x": poly[0::2],
                    "all_points_y": poly[1::2],
                },
                "region_attributes": {"vertebra": SPELLINGS[level]},
            }
            for level, poly in scene.polygons().items()
        ]
        metadata[f"{name}123"] = {
            "filename": name,
            "size": 123,
            "regions": regions,
            "file_attributes": {},
        }
    project = {"_via_settings": {"core": {"default_filepath": ""}}, "_via_img_metadata": metadata}
    (folder / "project.json").write_text(json.dumps(project))
    return [folder / "project.json"]


def write_labelme(folder, scene, images):
    paths = []
    for name in images:
        shapes = [
            {
                "label": SPELLINGS[level],
                "points": np.reshape(poly, (-1, 2)).tolist(),
                "shape_type": "polygon",
                "group_id": None,
                "flags": {},
            }
            for level, poly in scene.polygons().items()
        ]
        shapes.append({"label": "landmark", "points": [[5, 5]], "shape_type": "point"})
        doc = {
            "version": "5.4.1",
            "shapes": shapes,
            "imagePath": name,
            "imageData": None,
            "imageHeight": scene.height,
            "imageWidth": scene.width,
        }
        path = folder / (name.rsplit(".", 1)[0] + ".json")
        path.write_text(json.dumps(doc))
        paths.append(path)
    return paths


def write_coco(folder, scene, images):
    categories = [
        {"id": 10 + i, "name": SPELLINGS[c["name"]]} for i, c in enumerate(COCO_CATEGORIES)
    ]
    doc = {"images": [], "annotations": [], "categories": categories}
    for image_id, name in enumerate(images, start=1):
        doc["images"].append(
            {
                "id": image_id,
                "file_name": name,
                "width": scene.width,
                "height": scene.height,
                "patient_id": f"P{image_id}",
            }
        )
        for i, (level, poly) in enumerate(scene.polygons().items()):
            entry = {
                "id": len(doc["annotations"]) + 1,
                "image_id": image_id,
                "category_id": 10 + i,
                "iscrowd": 0,
                "segmentation": [poly],
            }
            if level == "L3":  # CVAT-style RLE for one instance
                from pycocotools import mask as mask_utils

                rle = mask_utils.encode(np.asfortranarray(scene.mask([poly]).astype(np.uint8)))
                entry["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode()}
            doc["annotations"].append(entry)
    (folder / "coco.json").write_text(json.dumps(doc))
    return [folder / "coco.json"]


def write_masks(folder, scene, images):
    paths = []
    for name in images:
        mask = np.zeros((scene.height, scene.width), np.uint8)
        for i, poly in enumerate(scene.polygons().values()):
            mask[scene.mask([poly])] = i + 1
        path = folder / (name.rsplit(".", 1)[0] + "_mask.png")
        cv2.imwrite(str(path), mask)
        paths.append(path)
    return paths


WRITERS = {"via": write_via, "labelme": write_labelme, "coco": write_coco, "masks": write_masks}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_format_round_trip(tmp_path, scene, fmt):
    images_dir = tmp_path / "images"
    annotations_dir = tmp_path / "annotations"
    images_dir.mkdir()
    annotations_dir.mkdir()
    names = ["a.png", "b.png"]
    originals = {name: scene.image(images_dir / name, seed=i) for i, name in enumerate(names)}
    inputs = WRITERS[fmt](annotations_dir, scene, names)
    out = tmp_path / "out"
    code = main(
        [
            "convert",
            "--from",
            fmt,
            *map(str, inputs),
            "--out",
            str(out),
            "--images",
            str(images_dir),
            "--keep-paths",
        ]
    )
    assert code == 0
    coco = COCO(str(out / "annotations.json"))  # pycocotools accepts it
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(LEVELS)
    assert [c["id"] for c in coco.loadCats(coco.getCatIds())] == [1, 2, 3, 4, 5, 6]
    assert len(coco.imgs) == 2
    truth = scene.polygons()
    for image in coco.imgs.values():
        source = image["source_file"].rsplit("/", 1)[-1]
        # exported PNG is exactly the model input of the source image
        exported = load_network_input(out / image["file_name"])
        np.testing.assert_array_equal(exported, originals[source])
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
        assert sorted(a["category_id"] for a in anns) == [1, 2, 3, 4, 5, 6]
        for ann in anns:
            level = LEVELS[ann["category_id"] - 1]
            got = coco.annToMask(ann).astype(bool)
            assert scene.iou(got, scene.mask([truth[level]])) > 0.85, (fmt, level)
            x, y, w, h = ann["bbox"]
            xs, ys = truth[level][0::2], truth[level][1::2]
            assert abs(x - min(xs)) <= 1.5 and abs(x + w - max(xs)) <= 1.5
            assert abs(y - min(ys)) <= 1.5 and abs(y + h - max(ys)) <= 1.5


def test_labelme_embedded_image_data(tmp_path, scene):
    pixels = scene.image(tmp_path / "tmp.png", seed=3)
    (path,) = write_labelme(tmp_path, scene, ["gone.png"])
    doc = json.loads(path.read_text())
    doc["imageData"] = base64.b64encode((tmp_path / "tmp.png").read_bytes()).decode()
    path.write_text(json.dumps(doc))
    result = convert_dataset("labelme", [path], tmp_path / "out")
    assert result.ok and len(result.annotations) == 6
    np.testing.assert_array_equal(
        load_network_input(tmp_path / "out" / result.images[0]["file_name"]), pixels
    )


def test_dicom_images_and_coco_pointing_at_dicom(tmp_path, dcm, scene):
    folder = tmp_path / "dicoms"
    folder.mkdir()
    stored = dcm.ramp(scene.height, scene.width)
    dcm.write(
        folder / "IMG0001",
        dcm.make_dataset(stored, PixelSpacing=[0.15, 0.15], WindowCenter=2048, WindowWidth=4096),
    )
    sr = dcm.make_dataset(stored)
    del sr.PixelData
    sr.SOPClassUID = sr.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"
    dcm.write(folder / "REPORT.dcm", sr)
    result = convert_dataset("dicom", [folder], tmp_path / "out")
    assert result.ok and len(result.images) == 1
    assert any("structured report" in i.problem and i.severity == "warning" for i in result.issues)
    record = result.images[0]
    assert record["pixel_spacing_mm"] == [0.15, 0.15]
    assert record["pixel_spacing_source"] == "PixelSpacing"  # which spacing the mm values use
    # paths and UIDs only in the private linkage by default
    assert "source_file" not in record and "sop_instance_uid" not in record
    (link,) = result.linkage
    assert link["source_file"].endswith("IMG0001") and link["sop_instance_uid"]
    np.testing.assert_array_equal(
        load_network_input(tmp_path / "out" / record["file_name"]),
        load_network_input(folder / "IMG0001"),
    )
    text = (tmp_path / "out" / "annotations.json").read_text()
    for phi in ("Doe", "Jane", "PAT-001", "19600101"):
        assert phi not in text

    # The same DICOM annotated through COCO: the patient key comes from the DICOM, keyed by
    # the dataset's own secret (another dataset, another key) unless the secret is shared.
    (inputs,) = write_coco(tmp_path, scene, ["dicoms/IMG0001"])
    coco = convert_dataset("coco", [inputs], tmp_path / "out2")
    assert coco.ok and len(coco.annotations) == 6
    assert coco.images[0]["patient_key"] != record["patient_key"]
    secret = read_secret_file(tmp_path / "out" / "private" / "patient_secret.txt")
    shared = convert_dataset(
        "coco", [inputs], tmp_path / "out3", ConvertOptions(patient_secret=secret)
    )
    assert shared.images[0]["patient_key"] == record["patient_key"]
    assert not (tmp_path / "out3" / "private" / "patient_secret.txt").exists()


def test_label_aliases_and_unknown_labels(tmp_path, scene):
    scene.image(tmp_path / "a.png")
    (path,) = write_labelme(tmp_path, scene, ["a.png"])
    doc = json.loads(path.read_text())
    doc["shapes"][0]["label"] = "T12"
    doc["shapes"][1]["label"] = "kidney"
    path.write_text(json.dumps(doc))
    refused = convert_dataset("labelme", [path], tmp_path / "out")
    assert not refused.ok and not refused.images
    assert "label 'T12' is level T12" in refused.errors[0].problem
    dropped = convert_dataset(
        "labelme", [path], tmp_path / "out2", ConvertOptions(drop_unknown_labels=True)
    )
    assert dropped.ok
    assert sorted(a["category_id"] for a in dropped.annotations) == [3, 4, 5, 6]
    assert sum("dropped" in i.problem for i in dropped.issues) == 2

"""BUU-LSPINE CSVs (real sample geometry), patient splits, Detectron2 registration."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lumbarseg.cli import main
from lumbarseg.data.convert.buu import parse_csv
from lumbarseg.data.convert.pipeline import convert_dataset
from lumbarseg.data.convert.records import ConvertOptions
from lumbarseg.data.convert.split import split_by_patient
from lumbarseg.levels import LEVELS
from tests.helpers.shared_data import require_shared_data


@pytest.fixture
def buu():
    """The BUU-LSPINE sample (skipped when absent; a failure under CI)."""
    return require_shared_data("buu-lspine-sample")


@pytest.fixture
def buu_images(tmp_path, buu):
    folder = tmp_path / "buu_images"
    folder.mkdir()
    csvs = sorted(buu.glob("*.csv"))
    for path in csvs:
        values = parse_csv(path)
        width = int(np.ceil(values[:, [0, 2]].max() * 1.2)) + 10
        height = int(np.ceil(values[:, [1, 3]].max() * 1.3)) + 10
        cv2.imwrite(str(folder / f"{path.stem}.jpg"), np.full((height, width), 90, np.uint8))
    return folder, csvs


def test_buu_sample_converts_with_endplate_quadrilaterals(tmp_path, buu, buu_images):
    images, csvs = buu_images
    out = tmp_path / "out"
    code = main(
        [
            "convert",
            "--from",
            "buu",
            str(buu),
            "--images",
            str(images),
            "--out",
            str(out),
            "--sacral-depth",
            "0.5",
            "--keep-paths",
        ]
    )
    assert code == 0
    data = json.loads((out / "annotations.json").read_text())
    assert len(data["images"]) == len(csvs) and len(data["annotations"]) == 6 * len(csvs)
    for image in data["images"]:
        values = parse_csv(Path(image["source_annotation"]))
        anns = {a["category_id"]: a for a in data["annotations"] if a["image_id"] == image["id"]}
        for index in range(5):
            sup, inf = values[2 * index], values[2 * index + 1]
            expected = [sup[0], sup[1], sup[2], sup[3], inf[2], inf[3], inf[0], inf[1]]
            np.testing.assert_allclose(
                anns[index + 1]["corners"], np.reshape(expected, (4, 2)), atol=0.01
            )
        # S1: perpendicular to its endplate, depth 0.5 x its length, away from L5
        s1 = np.array(anns[6]["corners"])
        endplate = s1[1] - s1[0]
        side = s1[3] - s1[0]
        assert abs(np.dot(endplate, side)) < 1e-2 * np.dot(endplate, endplate)
        assert np.linalg.norm(side) == pytest.approx(0.5 * np.linalg.norm(endplate), rel=1e-3)
        l5_centre = values[8:10, :4].reshape(-1, 2).mean(axis=0)
        assert np.linalg.norm(s1[3] - l5_centre) > np.linalg.norm(s1[0] - l5_centre)
    # at least one listhesis flag in the sample survives as an attribute
    flagged = sum(1 for a in data["annotations"] if a.get("attributes", {}).get("listhesis_flag"))
    total = sum(int(np.count_nonzero(parse_csv(p)[:, 4])) for p in csvs)
    assert (flagged > 0) == (total > 0)


def test_buu_geometry_only_and_broken_csv(tmp_path, buu):
    first = sorted(buu.glob("*.csv"))[0]
    short = tmp_path / "0999-M-050Y1.csv"
    short.write_text("\n".join(first.read_text().splitlines()[:9]))
    words = tmp_path / "0998-M-050Y1.csv"
    words.write_text(first.read_text().replace(",0\n", ",zero\n", 1))
    no_size = convert_dataset("buu", [first], tmp_path / "o1")
    assert "missing image file" in no_size.errors[0].problem
    result = convert_dataset(
        "buu", [first, short, words], tmp_path / "o2", ConvertOptions(image_size=(3000, 3000))
    )
    problems = sorted(i.problem for i in result.errors)
    assert problems[0] == "expected 11 rows x1,y1,x2,y2,label, found 9"
    assert problems[1].startswith("row 1: non-numeric value")
    assert len(result.images) == 1 and result.images[0]["geometry_only"]
    assert len(result.annotations) == 6


def test_split_never_puts_a_patient_in_two_splits(tmp_path, scene):
    # 30 images of 12 patients (1 to 4 images each), COCO with patient ids
    scene.image(tmp_path / "a.png")
    rng = np.random.default_rng(0)
    patients = [f"P{p}" for p in range(12) for _ in range(int(rng.integers(1, 5)))]
    images, annotations = [], []
    for i, patient in enumerate(patients, start=1):
        images.append(
            {
                "id": i,
                "file_name": "a.png",
                "width": scene.width,
                "height": scene.height,
                "patient_id": patient,
            }
        )
        for c, poly in enumerate(scene.polygons().values(), start=1):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": c,
                    "segmentation": [poly],
                    "iscrowd": 0,
                }
            )
    categories = [{"id": c, "name": name} for c, name in enumerate(LEVELS, start=1)]
    path = tmp_path / "in.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    outs = []
    secret = tmp_path / "site_secret.txt"  # one secret: keys comparable across conversions
    secret.write_text("a-site-wide-secret-for-tests\n")
    for run, seed in enumerate((7, 7, 8)):
        out = tmp_path / f"out{run}"
        assert (
            main(
                [
                    "convert",
                    "--from",
                    "coco",
                    str(path),
                    "--out",
                    str(out),
                    "--split",
                    "0.7,0.15,0.15",
                    "--seed",
                    str(seed),
                    "--patient-secret-file",
                    str(secret),
                ]
            )
            == 0
        )
        outs.append(out)
    splits = {}
    for name in ("train", "val", "test"):
        data = json.loads((outs[0] / f"annotations_{name}.json").read_text())
        splits[name] = {img["patient_key"] for img in data["images"]}
        assert data["images"], name
        ids = {img["id"] for img in data["images"]}
        assert {a["image_id"] for a in data["annotations"]} <= ids
    assert not (
        splits["train"] & splits["val"]
        or splits["train"] & splits["test"]
        or splits["val"] & splits["test"]
    )
    assert sum(map(len, splits.values())) == 12
    read = [(o / "annotations_train.json").read_text() for o in outs]
    strip = [json.loads(t)["images"] for t in read]
    assert strip[0] == strip[1]  # same seed, same split
    assert strip[0] != strip[2]  # another seed, another split


def test_split_fractions_by_image_count():
    patients = {i: f"p{i // 2}" for i in range(200)}  # 100 patients, 2 images each
    split = split_by_patient(patients, (0.7, 0.15, 0.15), seed=1)
    assert sorted(i for ids in split.values() for i in ids) == list(range(200))
    assert abs(len(split["train"]) - 140) <= 4 and abs(len(split["val"]) - 30) <= 4


def test_registered_dataset_feeds_detectron2_mapper(tmp_path, scene):
    pytest.importorskip("detectron2")
    from detectron2.data import DatasetCatalog, DatasetMapper, MetadataCatalog
    from detectron2.structures import BoxMode

    from lumbarseg.data.register import register_converted

    scene.image(tmp_path / "a.png")
    shapes = [
        {"label": level, "points": np.reshape(poly, (-1, 2)).tolist(), "shape_type": "polygon"}
        for level, poly in scene.polygons().items()
    ]
    for i in range(4):
        (tmp_path / f"x{i}.json").write_text(json.dumps({"shapes": shapes, "imagePath": "a.png"}))
    out = tmp_path / "out"
    assert (
        main(
            ["convert", "--from", "labelme", str(tmp_path), "--out", str(out), "--split", "0.5,0.5"]
        )
        == 0
    )
    prefix = f"lumbarseg_test_{tmp_path.name}"
    names = register_converted(out, prefix)
    assert names == [prefix, f"{prefix}_train", f"{prefix}_val"]
    meta = MetadataCatalog.get(f"{prefix}_train")
    assert meta.thing_classes == list(LEVELS) and len(meta.thing_colors) == 6
    dicts = DatasetCatalog.get(prefix)
    assert len(dicts) == 4
    record = dicts[0]
    assert Path(record["file_name"]).is_absolute() and Path(record["file_name"]).is_file()
    assert (record["height"], record["width"]) == (scene.height, scene.width)
    assert sorted(a["category_id"] for a in record["annotations"]) == [0, 1, 2, 3, 4, 5]
    assert all(a["bbox_mode"] == BoxMode.XYWH_ABS for a in record["annotations"])
    mapper = DatasetMapper(
        is_train=True,
        augmentations=[],
        image_format="L",
        use_instance_mask=True,
        instance_mask_format="polygon",
    )
    mapped = mapper(record)
    assert tuple(mapped["image"].shape) == (1, scene.height, scene.width)
    instances = mapped["instances"]
    assert sorted(instances.gt_classes.tolist()) == [0, 1, 2, 3, 4, 5]
    areas = instances.gt_masks.area()
    assert float(areas.min()) > 1000  # quads of about 70 x 26 px


def test_reconverting_output_keeps_patient_grouping(tmp_path, scene):
    scene.image(tmp_path / "a.png")
    images = [
        {
            "id": i,
            "file_name": "a.png",
            "width": scene.width,
            "height": scene.height,
            "patient_id": f"P{i % 3}",
        }
        for i in range(1, 7)
    ]
    categories = [{"id": 1, "name": "L1"}]
    (tmp_path / "in.json").write_text(
        json.dumps({"images": images, "annotations": [], "categories": categories})
    )
    first = convert_dataset("coco", [tmp_path / "in.json"], tmp_path / "o1")
    again = convert_dataset("coco", [tmp_path / "o1" / "annotations.json"], tmp_path / "o2")
    group = [[i["patient_key"] for i in r.images] for r in (first, again)]
    assert len(set(group[0])) == 3
    # same partition of images into patients (keys differ: they are re-hashed)
    assert [[a == b for b in group[0]] for a in group[0]] == [
        [a == b for b in group[1]] for a in group[1]
    ]


def test_split_does_not_depend_on_the_keys_secret():
    # Each dataset gets a new key secret: the same images and seed must still split the same.
    first = {i: f"p{i // 2}" for i in range(60)}
    second = {i: f"{hash(('other secret', i // 2)):x}" for i in range(60)}
    assert split_by_patient(first, (0.7, 0.3), seed=3) == split_by_patient(second, (0.7, 0.3), 3)

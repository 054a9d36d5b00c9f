"""The on-disk phantom dataset: determinism, COCO validity, truth consistency."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from shapely.geometry import Polygon

from lumbarseg.levels import COCO_CATEGORIES, LEVELS
from lumbarseg.phantom import PhantomConfig, generate_dataset

CONFIG = PhantomConfig(size=192, difficulty="hard", postop_share=0.5, monochrome1_share=0.5,
                       compressed_share=0.5)
N, SEED = 10, 11


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("phantom_a")
    return generate_dataset(out, N, SEED, config=CONFIG)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_same_seed_gives_byte_identical_output_for_any_worker_count(dataset, tmp_path):
    again = generate_dataset(tmp_path / "b", N, SEED, config=CONFIG, workers=2)
    first, second = _files(dataset.parent), _files(again.parent)
    assert sorted(first) == sorted(second)
    assert [k for k in first if first[k] != second[k]] == []
    other = generate_dataset(tmp_path / "c", 2, SEED + 1, config=CONFIG)
    assert other.read_bytes() != dataset.read_bytes()


def test_coco_loads_and_masks_match_polygons(dataset):
    coco = COCO(str(dataset))
    assert coco.loadCats(coco.getCatIds()) == COCO_CATEGORIES
    assert len(coco.getImgIds()) == N
    for ann in coco.loadAnns(coco.getAnnIds()):
        img = coco.imgs[ann["image_id"]]
        mask = coco.annToMask(ann)
        assert mask.shape == (img["height"], img["width"])
        polys = [Polygon(np.reshape(p, (-1, 2))) for p in ann["segmentation"]]
        assert all(p.is_valid and p.area > 0 for p in polys)
        area = sum(p.area for p in polys)
        assert ann["area"] == pytest.approx(area, rel=1e-3, abs=0.5)
        # Rasterised mask and polygon area agree up to boundary pixels.
        assert abs(mask.sum() - area) < 0.15 * area + 2 * sum(p.length for p in polys) * 0.5
        x, y, w, h = ann["bbox"]
        assert x >= 0 and y >= 0 and x + w <= img["width"] + 1e-6 and y + h <= img["height"] + 1e-6
        assert ann["iscrowd"] == 0 and len(ann["corners"]) == 4
        assert (Path(dataset).parent / img["file_name"]).is_file()
        assert not Path(img["file_name"]).is_absolute()


def test_truth_fields_and_levels_present(dataset):
    coco = json.loads(dataset.read_text())
    by_image: dict[int, list[str]] = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(LEVELS[ann["category_id"] - 1])
    for img in coco["images"]:
        truth = img["lumbarseg_truth"]
        assert truth["facing"] in ("left", "right")
        assert truth["transitional"] in (None, "lumbarised_S1", "sacralised_L5")
        assert 5.0 < truth["lordosis_deg"] < 90.0
        assert truth["pixel_spacing_mm"][0] > 0
        assert set(truth["fov_cut"]) == {"top", "bottom"}
        levels = by_image.get(img["id"], [])
        assert truth["levels_present"] == levels
        assert len(set(levels)) == len(levels)
        assert not set(truth["dropped_levels"]) & set(levels)
        for slip in truth["listhesis"].values():
            assert 1 <= slip["grade"] <= 5
        for implant in truth["implants"]:
            assert implant["type"] in ("screw", "rod", "cage", "plate")
            assert len(implant["polygon"]) >= 6
        assert img["patient_id"].startswith("PH")
    assert any(img["lumbarseg_truth"]["implants"] for img in coco["images"])


def _corner_angle(corners, a, b) -> float:
    (x0, y0), (x1, y1) = corners[b], corners[a]
    return math.degrees(math.atan2(y1 - y0, x1 - x0))


def test_truth_agrees_with_annotated_corners(dataset):
    """Lordosis and slip recomputed from the COCO corners (pixels) match the truth (mm)."""
    coco = json.loads(dataset.read_text())
    corners = {(a["image_id"], a["category_id"]): a["corners"] for a in coco["annotations"]}
    checked = 0
    for img in coco["images"]:
        truth = img["lumbarseg_truth"]
        l1, s1 = corners.get((img["id"], 1)), corners.get((img["id"], 6))
        if l1 and s1:
            diff = _corner_angle(l1, 0, 1) - _corner_angle(s1, 0, 1)
            diff = (diff + 180) % 360 - 180
            assert abs(abs(diff) - abs(truth["lordosis_deg"])) < 0.5
            checked += 1
        for level, slip in truth["listhesis"].items():
            up = corners.get((img["id"], LEVELS.index(level) + 1))
            low = corners.get((img["id"], LEVELS.index(slip["on"]) + 1))
            if up and low:
                sa, sp, ip = np.array(low[0]), np.array(low[1]), np.array(up[2])
                length = np.linalg.norm(sa - sp)
                percent = np.dot(ip - sp, (sa - sp) / length) / length * 100
                assert percent == pytest.approx(slip["percent"], abs=1.0)
    assert checked >= N // 2

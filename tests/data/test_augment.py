"""Every training augmentation keeps masks and boxes on the bodies they annotate.

A known pattern (bright bodies on a dark background) goes through the real mapper with one
augmentation forced on at a time; afterwards the instance masks must still cover the bright
bodies and nothing else, and each box must enclose its mask.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from detectron2.structures import BoxMode

from lumbarseg.config import get_cfg
from lumbarseg.data.augment import ColumnCrop, ImplantPaste, crop_annotations
from lumbarseg.data.mapper import RadiographDatasetMapper

H, W = 320, 256
BODY, BACKGROUND = 200, 40


def _pattern(tmp_path) -> dict:
    image = np.full((H, W), BACKGROUND, np.uint8)
    annotations = []
    for k in range(6):
        y = 20 + k * 50
        poly = np.array([[90, y], [170, y + 4], [168, y + 38], [92, y + 36]], np.float32)
        cv2.fillPoly(image, [poly.astype(np.int32)], BODY)
        corners = [poly[1], poly[0], poly[3], poly[2]]  # anterior on the right
        annotations.append({"bbox": [90.0, float(y), 80.0, 42.0], "bbox_mode": BoxMode.XYWH_ABS,
                            "category_id": k, "segmentation": [poly.reshape(-1).tolist()],
                            "iscrowd": 0, "corners": [c.tolist() for c in corners]})
    path = tmp_path / "pattern.png"
    cv2.imwrite(str(path), image)
    return {"file_name": str(path), "height": H, "width": W, "image_id": 1,
            "annotations": annotations}


def _cfg(**aug):
    cfg = get_cfg()
    cfg.INPUT.FORMAT = "L"
    cfg.MODEL.MASK_ON = True
    cfg.INPUT.MIN_SIZE_TRAIN = (256,)
    cfg.INPUT.MAX_SIZE_TRAIN = 400
    a = cfg.LUMBARSEG.AUG
    a.ROTATION_DEG, a.HFLIP_PROB = 0.0, 0.0
    a.BRIGHTNESS, a.CONTRAST, a.GAMMA = (1.0, 1.0), (1.0, 1.0), (1.0, 1.0)
    a.CROP_PROB = a.NOISE_PROB = a.BLUR_PROB = a.INVERT_PROB = a.IMPLANT_PROB = 0.0
    for key, value in aug.items():
        if key in ("MIN_SIZE_TRAIN", "MAX_SIZE_TRAIN"):
            setattr(cfg.INPUT, key, value)
        else:
            setattr(a, key, value)
    return cfg


def _check(out: dict, invert: bool = False, min_iou: float = 0.9) -> None:
    image = out["image"][0].numpy()
    inst = out["instances"]
    masks = inst.gt_masks.tensor.numpy() if hasattr(inst.gt_masks, "tensor") else None
    if masks is None:
        h, w = image.shape
        masks = np.stack([_raster(p, h, w) for p in inst.gt_masks.polygons])
    union = masks.any(axis=0)
    bright = image < 120 if invert else image > 120
    iou = (union & bright).sum() / (union | bright).sum()
    assert iou > min_iou, f"masks no longer cover the bodies (IoU {iou:.2f})"
    for mask, b in zip(masks, inst.gt_boxes.tensor.numpy(), strict=True):
        ys, xs = np.nonzero(mask)
        assert xs.min() >= b[0] - 1.5 and xs.max() <= b[2] + 1.5
        assert ys.min() >= b[1] - 1.5 and ys.max() <= b[3] + 1.5


def _raster(polys, h, w) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    for p in polys:
        cv2.fillPoly(m, [np.round(np.reshape(p, (-1, 2)) - 0.5).astype(np.int32)], 1)
    return m.astype(bool)


CASES = {
    "rotation": {"ROTATION_DEG": 15.0},
    "multi-scale": {"MIN_SIZE_TRAIN": (160, 384), "MAX_SIZE_TRAIN": 600},
    "photometric": {"BRIGHTNESS": (0.8, 1.2), "CONTRAST": (0.6, 1.4), "GAMMA": (0.6, 1.6)},
    "noise+blur": {"NOISE_PROB": 1.0, "NOISE_STD": (6.0, 8.0), "BLUR_PROB": 1.0,
                   "BLUR_SIGMA": (1.0, 1.5)},
    "crop": {"CROP_PROB": 1.0, "CROP_MAX_CUT": 0.4},
    "flip": {"HFLIP_PROB": 1.0},
}


@pytest.mark.parametrize("name", list(CASES))
def test_augmentation_keeps_masks_on_the_bodies(tmp_path, name):
    record = _pattern(tmp_path)
    mapper = RadiographDatasetMapper(_cfg(**CASES[name]), is_train=True)
    plain = RadiographDatasetMapper(_cfg(), is_train=True)(record)["image"]
    np.random.seed(3)
    changed = False
    for _ in range(6):
        out = mapper(record)
        _check(out, min_iou=0.8 if name == "rotation" else 0.9)
        changed |= out["image"].shape != plain.shape or not bool((out["image"] == plain).all())
    assert changed  # the augmentation did something


def test_polarity_inverts_pixels_not_masks(tmp_path):
    mapper = RadiographDatasetMapper(_cfg(INVERT_PROB=1.0), is_train=True)
    out = mapper(_pattern(tmp_path))
    _check(out, invert=True)


def test_a_mask_shifted_off_its_body_is_caught(tmp_path):
    """The check above fails when masks and pixels disagree (so it can fail at all)."""
    out = RadiographDatasetMapper(_cfg(), is_train=True)(_pattern(tmp_path))
    out["image"] = out["image"].roll(25, dims=1)
    with pytest.raises(AssertionError, match="no longer cover"):
        _check(out)


def test_crop_drops_mostly_cut_bodies_and_shifts_the_rest(tmp_path):
    record = _pattern(tmp_path)
    anns = record["annotations"]
    # Rows 30..320: body 0 (rows 20..60) keeps 30/40 of its height, so it stays; rows 50..:
    # body 0 keeps 10/40 < 30 % and is dropped.
    kept = crop_annotations(anns, 30, H, W)
    assert len(kept) == 6 and min(kept[0]["segmentation"][0][1::2]) == pytest.approx(0, abs=1)
    kept = crop_annotations(anns, 50, H, W)
    assert [a["category_id"] for a in kept] == [1, 2, 3, 4, 5]
    assert kept[0]["bbox"][1] == pytest.approx(70 - 50, abs=1)
    np.random.seed(0)
    image = cv2.imread(record["file_name"], cv2.IMREAD_GRAYSCALE)
    out_image, out_anns = ColumnCrop(1.0, 0.4)(image, anns)
    assert out_image.shape[0] < H
    union = np.zeros(out_image.shape, bool)
    for a in out_anns:
        union |= _raster(a["segmentation"], *out_image.shape)
    assert (out_image[union] == BODY).mean() > 0.97


def test_implant_paste_changes_pixels_over_bodies_and_leaves_masks(tmp_path):
    record = _pattern(tmp_path)
    image = cv2.imread(record["file_name"], cv2.IMREAD_GRAYSCALE)
    np.random.seed(1)
    pasted, anns = ImplantPaste(1.0)(image, record["annotations"])
    assert anns is record["annotations"]
    metal = pasted > 220
    assert metal.sum() > 100
    # Metal is placed on the column: mostly inside the bodies' horizontal span, near it.
    ys, xs = np.nonzero(metal)
    assert 40 < np.median(xs) < 200


def test_implant_paste_in_the_mapper_keeps_the_instances(tmp_path):
    record = _pattern(tmp_path)
    plain = RadiographDatasetMapper(_cfg(), is_train=True)(record)
    np.random.seed(2)
    out = RadiographDatasetMapper(_cfg(IMPLANT_PROB=1.0), is_train=True)(record)
    assert not bool((out["image"] == plain["image"]).all())
    assert out["instances"].gt_boxes.tensor.allclose(plain["instances"].gt_boxes.tensor)
    for a, b in zip(out["instances"].gt_masks.polygons, plain["instances"].gt_masks.polygons,
                    strict=True):
        assert all(np.allclose(p, q) for p, q in zip(a, b, strict=True))


def test_image_cache_returns_the_decoded_pixels_and_is_not_mutated(tmp_path):
    record = _pattern(tmp_path)
    cfg = _cfg(NOISE_PROB=1.0, NOISE_STD=(20.0, 30.0), IMAGE_CACHE_MB=1)
    mapper = RadiographDatasetMapper(cfg, is_train=True)
    fresh = RadiographDatasetMapper(_cfg(NOISE_PROB=1.0, NOISE_STD=(20.0, 30.0),
                                         IMAGE_CACHE_MB=0), is_train=True)
    for _ in range(3):
        np.random.seed(5)
        cached = mapper(record)["image"]
        np.random.seed(5)
        assert bool((cached == fresh(record)["image"]).all())
    assert list(mapper._cache) == [record["file_name"]] and not fresh._cache
    assert np.array_equal(mapper._cache[record["file_name"]],
                          cv2.imread(record["file_name"], cv2.IMREAD_GRAYSCALE))

"""Shared fixtures: a tiny generated spine dataset registered with Detectron2."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
import torch

from lumbarseg.levels import LEVELS

_counter = itertools.count()


def draw_tiny_spine(rng: np.random.Generator, height: int = 160, width: int = 128):
    """A column of six bright quadrilaterals on a noisy background, with their polygons."""
    image = rng.normal(60, 8, (height, width)).clip(0, 255).astype(np.uint8)
    annotations = []
    x0 = width * 0.3 + rng.uniform(-5, 5)
    body_h, gap = height / 8.5, height / 40
    y = height * 0.06
    for k, _ in enumerate(LEVELS):
        tilt = rng.uniform(-3, 3)
        poly = np.array(
            [[x0, y + tilt], [x0 + width * 0.4, y - tilt],
             [x0 + width * 0.4, y + body_h - tilt], [x0, y + body_h + tilt]],
            dtype=np.float32,
        )
        cv2.fillPoly(image, [poly.round().astype(np.int32)], int(170 + 10 * rng.random()))
        x, yy, w, h = cv2.boundingRect(poly.round().astype(np.int32))
        annotations.append(
            {
                "bbox": [float(x), float(yy), float(w), float(h)],
                "bbox_mode": 1,  # BoxMode.XYWH_ABS
                "segmentation": [poly.flatten().tolist()],
                "category_id": k,
                "iscrowd": 0,
            }
        )
        y += body_h + gap
    return image, annotations


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> str:
    """Register a 4-image dataset of PNGs and return its DatasetCatalog name."""
    from detectron2.data import DatasetCatalog, MetadataCatalog

    root = tmp_path_factory.mktemp("tiny_spine")
    rng = np.random.default_rng(0)
    dicts = []
    for i in range(4):
        image, anns = draw_tiny_spine(rng)
        path = root / f"img{i}.png"
        cv2.imwrite(str(path), image)
        dicts.append(
            {"file_name": str(path), "image_id": i, "height": image.shape[0],
             "width": image.shape[1], "annotations": anns}
        )
    name = f"tiny_spine_{next(_counter)}"
    DatasetCatalog.register(name, lambda: dicts)
    MetadataCatalog.get(name).set(thing_classes=list(LEVELS))
    return name


@pytest.fixture(autouse=True, scope="session")
def _limit_threads():
    torch.set_num_threads(2)

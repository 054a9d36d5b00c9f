"""A tiny synthetic spine: six bright quadrilaterals, as an image or a COCO dataset of PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from lumbarseg.levels import LEVELS


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


def write_tiny_coco(root: Path, n_images: int, seed: int) -> Path:
    """Write ``n_images`` tiny spines as PNGs plus a COCO JSON (categories L1..S1)."""
    from lumbarseg.levels import COCO_CATEGORIES

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for i in range(n_images):
        image, anns = draw_tiny_spine(rng)
        cv2.imwrite(str(root / f"img{i}.png"), image)
        images.append({"id": i + 1, "file_name": f"img{i}.png",
                       "height": image.shape[0], "width": image.shape[1]})
        for ann in anns:
            x, y, w, h = ann["bbox"]
            annotations.append({
                "id": len(annotations) + 1, "image_id": i + 1,
                "category_id": ann["category_id"] + 1, "segmentation": ann["segmentation"],
                "bbox": ann["bbox"], "area": w * h, "iscrowd": 0,
            })
    path = root / "annotations.json"
    path.write_text(json.dumps(
        {"images": images, "annotations": annotations, "categories": COCO_CATEGORIES}
    ))
    return path

"""Small synthetic lateral spines as COCO dicts, and predictions derived from them."""

from __future__ import annotations

import numpy as np

from lumbarseg.levels import COCO_CATEGORIES, LEVELS


def box_polygon(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def spine_coco(n_images: int = 3, height: int = 140, width: int = 90, spacing=(0.5, 0.5)) -> dict:
    """COCO GT: per image six stacked vertebral bodies (the last image misses L1, FOV cut)."""
    images, annotations = [], []
    for i in range(n_images):
        image_id = 100 + i
        entry = {"id": image_id, "file_name": f"img{i}.png", "height": height, "width": width}
        if spacing is not None:
            entry["lumbarseg_truth"] = {"pixel_spacing_mm": list(spacing)}
        images.append(entry)
        for k, _level in enumerate(LEVELS):
            if i == n_images - 1 and k == 0:
                continue
            y0 = 8 + 20 * k + i
            poly = box_polygon(20 + i, y0, 62 + i, y0 + 16)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": k + 1,
                    "segmentation": [poly],
                    "area": 42.0 * 16.0,
                    "bbox": [20.0 + i, float(y0), 42.0, 16.0],
                    "iscrowd": 0,
                }
            )
    return {"images": images, "annotations": annotations, "categories": COCO_CATEGORIES}


def noisy_predictions(coco: dict, seed: int = 0) -> list[dict]:
    """COCO results derived from the GT: shifted polygons, one swapped pair, a false positive."""
    rng = np.random.default_rng(seed)
    results = []
    for ann in coco["annotations"]:
        dx, dy = rng.integers(-3, 4, size=2)
        poly = np.asarray(ann["segmentation"][0], float).reshape(-1, 2) + [dx, dy]
        cat = ann["category_id"]
        if ann["image_id"] == 101 and cat in (4, 5):  # swapped L4/L5 in the second image
            cat = 9 - cat
        x, y, w, h = ann["bbox"]
        results.append(
            {
                "image_id": ann["image_id"],
                "category_id": cat,
                "segmentation": [poly.ravel().tolist()],
                "bbox": [x + dx, y + dy, w, h],
                "score": float(rng.uniform(0.55, 0.99)),
            }
        )
    results.append(  # a low-score false positive and a confident one
        {
            "image_id": 100,
            "category_id": 1,
            "segmentation": [box_polygon(2, 2, 12, 30)],
            "bbox": [2, 2, 10, 28],
            "score": 0.2,
        }
    )
    results.append(
        {
            "image_id": 102,
            "category_id": 1,
            "segmentation": [box_polygon(66, 2, 86, 12)],
            "bbox": [66, 2, 20, 10],
            "score": 0.9,
        }
    )
    return results

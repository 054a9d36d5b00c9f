"""Remove what is not a vertebral body: implants, duplicates, fragments, off-column objects.

Shape rules come first (metal, elongation) so that a screw overlapping a body can never make
the body look like its duplicate.
"""

from __future__ import annotations

import numpy as np
import shapely

from lumbarseg.postprocess.candidates import Candidate
from lumbarseg.postprocess.config import LabellerConfig
from lumbarseg.postprocess.geometry import Shape, rasterize


def filter_candidates(
    candidates: list[Candidate],
    shapes: list[Shape | None],
    image: np.ndarray | None,
    image_shape: tuple[int, int] | None,
    config: LabellerConfig,
) -> tuple[list[int], dict[int, str]]:
    """Indices kept (as plausible vertebral bodies) and {index: reason} for the rest."""
    rejected: dict[int, str] = {}
    alive = []
    for i, (cand, shape) in enumerate(zip(candidates, shapes)):
        if shape is None:
            rejected[i] = "empty"
        elif cand.score < config.min_score:
            rejected[i] = "low_score"
        elif shape.elongation > config.max_elongation:
            rejected[i] = "implant_elongated"
        else:
            alive.append(i)
    if image is not None and alive:
        for i in _metal(candidates, shapes, alive, image, config):
            rejected[i] = "implant_metal"
        alive = [i for i in alive if i not in rejected]
    for i, j in _duplicates(candidates, shapes, alive, config):
        rejected[i] = f"duplicate_of_{j}"
    alive = [i for i in alive if i not in rejected]
    if len(alive) >= 3:
        areas = np.array([shapes[i].area for i in alive])
        median = float(np.median(areas))
        for i, area in zip(alive, areas):
            touches = image_shape is not None and _touches_border(shapes[i], image_shape)
            low = config.min_area_ratio * (0.4 if touches else 1.0)
            if area < low * median:
                rejected[i] = "too_small"
            elif area > config.max_area_ratio * median:
                rejected[i] = "too_large"
        alive = [i for i in alive if i not in rejected]
    return alive, rejected


def _touches_border(shape: Shape, image_shape: tuple[int, int]) -> bool:
    h, w = image_shape
    x0, y0, x1, y1 = shape.box
    return x0 <= 2 or y0 <= 2 or x1 >= w - 3 or y1 >= h - 3


def _metal(candidates, shapes, alive, image, config) -> list[int]:
    """Candidates mostly made of saturated pixels (metal saturates the detector)."""
    img = np.asarray(image)
    if img.ndim == 3:
        img = img.mean(axis=2)
    sample = img[:: max(1, img.shape[0] // 256), :: max(1, img.shape[1] // 256)]
    lo, hi = np.percentile(sample, [5, 99.9])
    if hi - lo <= 0:
        return []
    level = hi - 0.06 * (hi - lo)
    fractions, medians = {}, {}
    for i in alive:
        rows, cols, inside = rasterize(shapes[i].outline, shapes[i].box, img.shape[:2])
        pixels = img[rows, cols][inside]
        if pixels.size == 0:
            continue
        fractions[i] = float(np.mean(pixels >= level))
        medians[i] = float(np.median(pixels))
    if not medians:
        return []
    typical = float(np.median(list(medians.values())))
    return [i for i, f in fractions.items()
            if f >= config.metal_fraction and medians[i] > typical + 0.05 * (hi - lo)
            or f >= 0.9]


def _duplicates(candidates, shapes, alive, config) -> list[tuple[int, int]]:
    """(dropped, kept) pairs: the lower-scoring of two detections of the same body."""
    if len(alive) < 2:
        return []
    polys = [shapely.make_valid(shapely.Polygon(shapes[i].outline)) for i in alive]
    order = sorted(range(len(alive)), key=lambda k: -candidates[alive[k]].score)
    kept: list[int] = []
    out = []
    for k in order:
        dup = None
        for m in kept:
            a, b = polys[k], polys[m]
            if not a.intersects(b):
                continue
            inter = a.intersection(b).area
            union = a.area + b.area - inter
            smaller = min(a.area, b.area)
            if union > 0 and (inter / union > config.duplicate_iou
                              or inter / max(smaller, 1e-9) > config.duplicate_containment):
                dup = m
                break
        if dup is None:
            kept.append(k)
        else:
            out.append((alive[k], alive[dup]))
    return out

"""Training augmentation that keeps a model from learning one renderer or one X-ray system.

Two kinds, both on by default through ``LUMBARSEG.AUG`` keys:

- record-level steps (``ColumnCrop``, ``ImplantPaste``) that need the annotations, applied to
  the image and its annotation dicts before Detectron2's augmentations: a crop that cuts the
  column at the top or bottom (bodies left with less than ``MIN_VISIBLE`` of their area are
  dropped, as the phantom generator and annotators do) and metal pasted over bodies with the
  masks unchanged, since metal occludes a vertebra rather than replacing it;
- Detectron2 ``Augmentation`` s that change pixel values only (``RandomNoiseBlur``,
  ``RandomPolarity``), so boxes and masks need no transform at all.
"""

from __future__ import annotations

import cv2
import numpy as np
from detectron2.data import transforms as T
from shapely.geometry import Polygon, box
from shapely.validation import make_valid

# A body cut by a crop stays annotated only if this share of it is visible (as in the phantoms).
MIN_VISIBLE = 0.3


def _polygons(geom) -> list[Polygon]:
    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]


def _as_polygon(flat: list[float]) -> Polygon:
    poly = Polygon(np.reshape(flat, (-1, 2)))
    if not poly.is_valid:
        poly = max(_polygons(make_valid(poly)), key=lambda p: p.area, default=Polygon())
    return poly


def crop_annotations(annotations: list[dict], y0: float, y1: float, width: float) -> list[dict]:
    """Annotations of the rows ``y0..y1`` (shifted up by ``y0``); cut-off bodies are dropped."""
    window = box(0, y0, width, y1)
    kept = []
    for ann in annotations:
        full = [_as_polygon(p) for p in ann["segmentation"]]
        area = sum(p.area for p in full)
        parts = [q for p in full for q in _polygons(p.intersection(window)) if q.area > 1.0]
        visible = sum(q.area for q in parts)
        if area <= 0 or visible < MIN_VISIBLE * area:
            continue
        segs = []
        for q in parts:
            xy = np.asarray(q.exterior.coords)[:-1] - [0.0, y0]
            segs.append([float(v) for v in xy.reshape(-1)])
        xs = [v for s in segs for v in s[0::2]]
        ys = [v for s in segs for v in s[1::2]]
        new = dict(ann, segmentation=segs,
                   bbox=[min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)])
        new.pop("corners", None)  # corners outside the crop would no longer be true
        kept.append(new)
    return kept


class ColumnCrop:
    """Cut up to ``max_cut`` of the image height off the top or the bottom (never both the
    whole column): films often end inside L1 or above the sacrum."""

    def __init__(self, prob: float, max_cut: float):
        self.prob, self.max_cut = prob, max_cut

    def __call__(self, image: np.ndarray, annotations: list[dict]) -> tuple[np.ndarray, list]:
        if (np.random.rand() >= self.prob or not annotations
                or any(not isinstance(a["segmentation"], list) for a in annotations)):
            return image, annotations
        h, w = image.shape[:2]
        cut = int(np.random.uniform(0.05, self.max_cut) * h)
        y0, y1 = (cut, h) if np.random.rand() < 0.5 else (0, h - cut)
        kept = crop_annotations(annotations, y0, y1, w)
        if not kept:
            return image, annotations
        return np.ascontiguousarray(image[y0:y1]), kept


class ImplantPaste:
    """Paste pedicle screws with rods, and disc cages, over annotated bodies (masks kept)."""

    def __init__(self, prob: float):
        self.prob = prob

    def __call__(self, image: np.ndarray, annotations: list[dict]) -> tuple[np.ndarray, list]:
        if np.random.rand() >= self.prob or len(annotations) < 2:
            return image, annotations
        order = sorted(annotations, key=lambda a: a["bbox"][1] + a["bbox"][3] / 2)
        count = int(np.random.randint(2, min(4, len(order)) + 1))
        start = int(np.random.randint(0, len(order) - count + 1))
        chosen = order[start:start + count]
        metal = np.zeros(image.shape[:2], np.uint8)
        heads = []
        for ann in chosen:
            heads.append(_draw_screw(metal, ann))
        thick = max(int(0.12 * np.median([a["bbox"][3] for a in chosen])), 2)
        cv2.polylines(metal, [np.round(heads).astype(np.int32)], False, 255, thick, cv2.LINE_AA)
        for upper, lower in zip(chosen[:-1], chosen[1:], strict=True):
            if np.random.rand() < 0.4:
                _draw_cage(metal, upper, lower)
        level = int(np.random.uniform(225, 256))
        alpha = metal.astype(np.float32) / 255.0
        if image.ndim == 3:
            alpha = alpha[..., None]
        out = image.astype(np.float32) * (1 - alpha) + level * alpha
        return np.clip(out + 0.5, 0, 255).astype(np.uint8), annotations


def _axis(ann: dict) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Body centre, posterior-to-anterior unit vector, depth and height (px)."""
    x, y, w, h = ann["bbox"]
    centre = np.array([x + w / 2, y + h / 2])
    corners = ann.get("corners")
    if corners is not None:
        c = np.asarray(corners, dtype=float)
        u = (c[0] + c[3] - c[1] - c[2]) / 2
        depth = float(np.linalg.norm(u))
        return centre, u / max(depth, 1e-6), depth, float(np.linalg.norm(c[1] - c[2]))
    u = np.array([1.0 if np.random.rand() < 0.5 else -1.0, 0.0])
    return centre, u, 0.8 * w, 0.8 * h


def _draw_screw(metal: np.ndarray, ann: dict) -> np.ndarray:
    centre, u, depth, height = _axis(ann)
    jitter = np.random.uniform(-0.15, 0.15) * height
    n = np.array([-u[1], u[0]])
    entry = centre - 0.75 * depth * u + jitter * n
    tip = centre + np.random.uniform(0.2, 0.4) * depth * u + jitter * n
    thick = max(int(0.18 * height), 2)
    cv2.line(metal, tuple(np.round(entry).astype(int)), tuple(np.round(tip).astype(int)), 255,
             thick, cv2.LINE_AA)
    head = entry - 0.15 * depth * u
    size = max(int(0.2 * height), 2)
    cv2.circle(metal, tuple(np.round(head).astype(int)), size, 255, -1, cv2.LINE_AA)
    return head


def _draw_cage(metal: np.ndarray, upper: dict, lower: dict) -> None:
    ux, uy, uw, uh = upper["bbox"]
    lx, ly, lw, lh = lower["bbox"]
    top, bottom = uy + 0.85 * uh, ly + 0.15 * lh
    if bottom <= top:
        top, bottom = (top + bottom) / 2 - 2, (top + bottom) / 2 + 2
    x0 = max(ux, lx) + 0.2 * min(uw, lw)
    x1 = min(ux + uw, lx + lw) - 0.2 * min(uw, lw)
    if x1 > x0:
        cv2.rectangle(metal, (int(x0), int(top)), (int(x1), int(bottom)), 255,
                      max(int(0.06 * uh), 1), cv2.LINE_AA)


class RandomNoiseBlur(T.Augmentation):
    """Gaussian blur and additive noise (detector resolution and quantum noise differ)."""

    def __init__(self, noise_prob: float, noise_std: tuple[float, float], blur_prob: float,
                 blur_sigma: tuple[float, float]):
        super().__init__()
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> T.Transform:
        sigma = np.random.uniform(*self.blur_sigma) if np.random.rand() < self.blur_prob else 0
        std = np.random.uniform(*self.noise_std) if np.random.rand() < self.noise_prob else 0
        seed = int(np.random.randint(0, 2**31 - 1))
        if not sigma and not std:
            return T.NoOpTransform()

        def apply(img: np.ndarray) -> np.ndarray:
            out = img.astype(np.float32)
            if sigma:
                out = cv2.GaussianBlur(out, (0, 0), sigma).reshape(img.shape)
            if std:
                noise = np.random.default_rng(seed).standard_normal(img.shape[:2], np.float32)
                out = out + std * noise.reshape(img.shape[:2] + (1,) * (img.ndim - 2))
            return np.clip(out + 0.5, 0, 255).astype(np.uint8)

        return T.ColorTransform(apply)


class RandomPolarity(T.Augmentation):
    """Invert the grey scale: a MONOCHROME1 film whose header lies still shows a spine."""

    def __init__(self, prob: float):
        super().__init__()
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> T.Transform:
        if np.random.rand() < self.prob:
            return T.ColorTransform(lambda img: 255 - img)
        return T.NoOpTransform()

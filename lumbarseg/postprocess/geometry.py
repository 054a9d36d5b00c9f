"""Per-candidate shape facts (outline, area, rectangle, intensity), computed once.

Masks are reduced to an outline polygon on a downsampled crop: every later step works on
polygons of a few dozen vertices, which keeps the labeller fast on 2000-pixel films.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lumbarseg.postprocess.candidates import Candidate

_MAX_CROP_SIDE = 160  # masks are downsampled so their crop is at most this many pixels


@dataclass
class Shape:
    """Outline and derived facts of one candidate, in image pixels."""

    outline: np.ndarray  # (K, 2) float XY, the largest part
    area: float
    centroid: np.ndarray  # (2,)
    rect_axes: np.ndarray  # (2, 2) unit vectors of the min-area rectangle's sides
    rect_sides: np.ndarray  # (2,) lengths along those axes
    parts: int  # number of significant separate parts (fragmented masks)
    box: np.ndarray  # XYXY

    @property
    def elongation(self) -> float:
        return float(max(self.rect_sides) / max(min(self.rect_sides), 1e-6))

    def touches_border(self, image_shape: tuple[int, int]) -> bool:
        """The film ends at the outline: part of the body may lie beyond it."""
        h, w = image_shape
        x0, y0, x1, y1 = self.box
        return bool(x0 <= 2 or y0 <= 2 or x1 >= w - 3 or y1 >= h - 3)

    def extent(self, direction: np.ndarray) -> float:
        """Length of the outline's projection on a unit direction."""
        proj = self.outline @ direction
        return float(proj.max() - proj.min())


def unit(v: np.ndarray) -> np.ndarray:
    """``v`` scaled to length 1; a zero vector stays (near) zero instead of becoming NaN."""
    return v / max(float(np.linalg.norm(v)), 1e-9)


def shape_of(candidate: Candidate) -> Shape | None:
    """The candidate's outline; None when it has no area (empty mask, degenerate polygon)."""
    if candidate.polygon is not None:
        outline, parts = _largest_polygon(candidate.polygon)
    else:
        outline, parts = _mask_outline(candidate.mask)
    if outline is None or len(outline) < 3 or not np.isfinite(outline).all():
        return None  # nothing to measure (a NaN vertex would poison every later step)
    area = abs(_signed_area(outline))
    if area < 1.0:
        return None
    centroid = _polygon_centroid(outline)
    (_, _), (w, h), angle = cv2.minAreaRect(outline.astype(np.float32))
    a = np.deg2rad(angle)
    axes = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    box = np.concatenate([outline.min(0), outline.max(0)])
    return Shape(outline, area, centroid, axes, np.array([w, h], float), parts, box)


def _largest_polygon(polygon) -> tuple[np.ndarray | None, int]:
    if isinstance(polygon, np.ndarray) and polygon.ndim == 2 and polygon.shape[1] == 2:
        return polygon.astype(np.float64), 1
    parts = []
    for part in polygon:
        arr = np.asarray(part, dtype=np.float64).reshape(-1, 2)
        if len(arr) >= 3:
            parts.append(arr)
    if not parts:
        return None, 0
    areas = [abs(_signed_area(p)) for p in parts]
    biggest = int(np.argmax(areas))
    significant = sum(a > 0.05 * areas[biggest] for a in areas)
    return parts[biggest], significant


def _mask_outline(mask: np.ndarray) -> tuple[np.ndarray | None, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None, 0
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = mask[y0:y1, x0:x1]
    step = max(1, int(np.ceil(max(crop.shape) / _MAX_CROP_SIDE)))
    if step > 1:
        small = cv2.resize(crop.astype(np.uint8), (max(1, crop.shape[1] // step),
                           max(1, crop.shape[0] // step)), interpolation=cv2.INTER_AREA)
        sy, sx = crop.shape[0] / small.shape[0], crop.shape[1] / small.shape[1]
    else:
        small, sy, sx = crop.astype(np.uint8), 1.0, 1.0
    padded = np.pad(small, 1)
    contours, _ = cv2.findContours(padded, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None, 0
    areas = [cv2.contourArea(c) for c in contours]
    biggest = int(np.argmax(areas))
    significant = sum(a > 0.05 * max(areas[biggest], 1.0) for a in areas)
    pts = contours[biggest].reshape(-1, 2).astype(np.float64) - 1.0
    # pixel centres -> image coordinates of the crop; +0.5 keeps the outline centred on pixels
    pts = (pts + 0.5) * [sx, sy] + [x0, y0]
    return pts, significant


def _signed_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _polygon_centroid(pts: np.ndarray) -> np.ndarray:
    x, y = pts[:, 0], pts[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    a = cross.sum() / 2.0
    if abs(a) < 1e-9:
        return pts.mean(axis=0)
    cx = ((x + np.roll(x, -1)) * cross).sum() / (6 * a)
    cy = ((y + np.roll(y, -1)) * cross).sum() / (6 * a)
    return np.array([cx, cy])


def rasterize(outline: np.ndarray, box: np.ndarray, shape: tuple[int, int]) -> tuple[slice, slice,
                                                                                      np.ndarray]:
    """A bool mask of the outline inside its (clipped) box: (row slice, col slice, mask)."""
    h, w = shape
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(w, int(np.ceil(box[2])) + 1), min(h, int(np.ceil(box[3])) + 1)
    canvas = np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.uint8)
    if canvas.size:
        pts = np.round(outline - [x0, y0]).astype(np.int32)
        cv2.fillPoly(canvas, [pts], 1)
    return slice(y0, y1), slice(x0, x1), canvas.astype(bool)

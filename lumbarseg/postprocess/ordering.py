"""Order bodies along the spine (not by image row) and drop objects off the column.

The lumbar column is a gentle arc: projecting centroids on their principal axis orders them
even on rotated films, and a robust quadratic through the centroids gives the curve that
off-column objects (bowel gas, femoral heads, loose screws) sit far from.
"""

from __future__ import annotations

import numpy as np

from lumbarseg.postprocess.geometry import Shape, unit


def column_axis(centroids: np.ndarray, shapes: list[Shape]) -> np.ndarray:
    """Unit vector along the column, pointing down the image (+y) when that is defined."""
    if len(centroids) >= 2:
        centred = centroids - centroids.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        axis = vt[0]
    else:
        # One body: its rectangle side closest to the image vertical.
        axes = shapes[0].rect_axes
        axis = axes[int(np.argmax(np.abs(axes[:, 1])))]
    if axis[1] < 0 or (axis[1] == 0 and axis[0] < 0):
        axis = -axis
    return axis / np.linalg.norm(axis)


def order_along(centroids: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Indices of centroids sorted along the axis."""
    return np.argsort(centroids @ axis, kind="stable")


def off_column(centroids: np.ndarray, axis: np.ndarray, width: float, limit: float) -> list[int]:
    """Positions (into centroids) farther than ``limit * width`` from a robust column curve."""
    n = len(centroids)
    if n < 4:
        return []
    normal = np.array([-axis[1], axis[0]])
    s, t = centroids @ axis, centroids @ normal
    keep = np.ones(n, bool)
    for _ in range(3):
        deg = 2 if keep.sum() >= 5 else 1
        coef = np.polyfit(s[keep], t[keep], deg)
        resid = np.abs(t - np.polyval(coef, s))
        worst = int(np.argmax(np.where(keep, resid, -1)))
        if resid[worst] > limit * width and keep.sum() > 3:
            keep[worst] = False
        else:
            break
    resid = np.abs(t - np.polyval(coef, s))
    return [i for i in range(n) if resid[i] > limit * width]


def tangents(points: np.ndarray) -> np.ndarray:
    """Unit tangents of an ordered chain of points (central differences)."""
    n = len(points)
    if n == 1:
        return np.array([[0.0, 1.0]])
    out = np.empty_like(points, dtype=np.float64)
    for i in range(n):
        a, b = points[max(0, i - 1)], points[min(n - 1, i + 1)]
        d = b - a
        out[i] = unit(d)
    return out

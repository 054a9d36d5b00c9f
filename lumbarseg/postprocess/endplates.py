"""Endplate lines of a vertebral body from its outline, robust to rounded corners.

In the body's own frame (one axis along the column), the superior endplate is the cranial
edge of the outline over the central part of the body's width, where corners cannot bend it;
a robust line fit there, extended to where the outline still lies on it, gives the endplate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lumbarseg.postprocess.geometry import Shape

_CENTRAL = (0.15, 0.85)  # share of the width the line is fitted on
_BINS = 24


@dataclass
class Endplate:
    """A line segment with named ends, in image pixels."""

    anterior: np.ndarray  # (2,) XY
    posterior: np.ndarray  # (2,)

    @property
    def length(self) -> float:
        return float(np.linalg.norm(self.anterior - self.posterior))

    def to_json(self) -> dict:
        return {"anterior": [round(float(v), 2) for v in self.anterior],
                "posterior": [round(float(v), 2) for v in self.posterior]}


def body_frame(shape: Shape, down: np.ndarray) -> np.ndarray:
    """Unit vector along the body's own axis (a side of its min-area rectangle) toward caudal."""
    axes = shape.rect_axes
    k = int(np.argmax(np.abs(axes @ down)))
    u = axes[k]
    return u if np.dot(u, down) > 0 else -u


def _resample(outline: np.ndarray, count: int = 160) -> np.ndarray:
    closed = np.vstack([outline, outline[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    if cum[-1] <= 0:
        return outline
    t = np.linspace(0, cum[-1], count, endpoint=False)
    return np.column_stack([np.interp(t, cum, closed[:, 0]), np.interp(t, cum, closed[:, 1])])


def endplates(shape: Shape, down: np.ndarray, anterior: np.ndarray,
              ) -> tuple[Endplate, Endplate, np.ndarray]:
    """(superior, inferior, caudal axis) of one body; ``anterior`` is a unit vector."""
    u = body_frame(shape, down)
    v = np.array([-u[1], u[0]])
    if np.dot(v, anterior) < 0:
        v = -v
    pts = _resample(shape.outline)
    rel = pts - shape.centroid
    a, b = rel @ v, rel @ u
    height = float(b.max() - b.min())
    lo, hi = a.min(), a.max()
    width = hi - lo
    edges = np.linspace(lo + _CENTRAL[0] * width, lo + _CENTRAL[1] * width, _BINS + 1)
    bins = np.digitize(a, edges) - 1
    inside = (bins >= 0) & (bins < _BINS)
    ai, bi, ki = a[inside], b[inside], bins[inside]
    order = np.lexsort((bi, ki))
    ks = ki[order]
    first = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    last = np.r_[first[1:] - 1, len(ks) - 1]
    sup_pts = np.column_stack([ai[order][first], bi[order][first]])
    inf_pts = np.column_stack([ai[order][last], bi[order][last]])
    out = []
    for prof, sign in ((sup_pts, -1), (inf_pts, 1)):
        slope, icpt = _robust_line(prof[:, 0], prof[:, 1])
        near = np.abs(b - (slope * a + icpt)) < 0.06 * height + 1.0
        # keep only the side of the outline this endplate bounds
        near &= (b - (slope * a + icpt)) * sign > -0.06 * height - 1.0
        near &= np.sign(b) == sign
        a_near = a[near] if near.any() else np.array([lo, hi])
        a_ant, a_post = a_near.max(), a_near.min()
        ant = shape.centroid + a_ant * v + (slope * a_ant + icpt) * u
        post = shape.centroid + a_post * v + (slope * a_post + icpt) * u
        out.append(Endplate(ant, post))
    return out[0], out[1], u


def _robust_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(x) < 2:
        return 0.0, float(y.mean()) if len(y) else 0.0
    keep = np.ones(len(x), bool)
    slope, icpt = np.polyfit(x, y, 1)
    for _ in range(2):
        resid = np.abs(y - (slope * x + icpt))
        mad = np.median(resid) + 1e-6
        new = resid <= 3.0 * mad + 0.5
        if new.sum() < 2 or (new == keep).all():
            break
        keep = new
        slope, icpt = np.polyfit(x[keep], y[keep], 1)
    return float(slope), float(icpt)

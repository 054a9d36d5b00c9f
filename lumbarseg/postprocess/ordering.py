"""Order bodies along the spine (not by image row) and drop objects off the column.

The lumbar column is a gentle arc: projecting centroids on their principal axis orders them
even on rotated films, and a robust quadratic through the centroids gives the curve that
off-column objects (bowel gas, femoral heads, loose screws) sit far from.
"""

from __future__ import annotations

import numpy as np

from lumbarseg.postprocess.geometry import Shape, unit

ISOLATED = 3.0  # body lengths to the nearest other object beyond which one is no guide
# An end body this far from its neighbour (in spacing units) while the column turns this much
# (degrees) to reach it is no vertebra: a femoral head below the sacrum. The column turns
# most at the lumbosacral junction, well under this, even when L5 is missed.
KINK_DISTANCE, KINK_ANGLE = 1.8, 50.0
# Nearer, only a sharp turn says the same: an object beside the sacrum a body's spacing away (a
# femoral head or bowel loop in front of it). On the 60 real BUU columns the path turns at
# most 33 degrees from L5 to S1 and 40 from L4 to S1 with L5 missed, on the demo model's
# phantoms at most 55 (``SACRAL_TURN``); a ghost in front of the sacrum taken for S1 turned
# 70-75 there, which 75 let through.
SHARP_KINK_DISTANCE, SHARP_KINK_ANGLE = 1.0, 65.0
# The most the path from L5 to S1 turns from the L4-L5 step (degrees): the sacrum tilts back
# at the lumbosacral junction. On the captured films S1 turned 17-55 deg, objects beside L5
# (spinous processes) 80-95 deg.
SACRAL_TURN = 60.0


def column_axis(centroids: np.ndarray, shapes: list[Shape]) -> np.ndarray:
    """Unit vector along the column, pointing down the image (+y) when that is defined."""
    if len(centroids) >= 2:
        core = centroids[not_isolated(centroids, shapes)]
        centred = core - core.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        axis = vt[0]
    else:
        # One body: its rectangle side closest to the image vertical.
        axes = shapes[0].rect_axes
        axis = axes[int(np.argmax(np.abs(axes[:, 1])))]
    if axis[1] < 0 or (axis[1] == 0 and axis[0] < 0):
        axis = -axis
    return axis / np.linalg.norm(axis)


def not_isolated(centroids: np.ndarray, shapes: list[Shape]) -> np.ndarray:
    """Mask of the objects that have another within ``ISOLATED`` body lengths.

    A principal axis and a least-squares curve are means: one object far from everything
    else (a side marker, a hip) tilts the axis and pulls the curve, and real bodies then
    look off the column. Bodies of a column lie about one length apart, so such an object is
    left out of the axis and of the curve's first fit (the curve still judges it). Nearness
    to a neighbour does not depend on how the column curves, unlike distance to a line.
    """
    n = len(centroids)
    keep = np.ones(n, bool)
    if n < 4:
        return keep
    scale = float(np.median([max(sh.rect_sides) for sh in shapes]))
    dist = np.linalg.norm(centroids[:, None, :] - centroids[None, :, :], axis=2)
    np.fill_diagonal(dist, np.inf)
    near = dist.min(axis=1) <= ISOLATED * scale
    return near if near.sum() >= 3 else keep


def order_along(centroids: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Indices of centroids sorted along the axis."""
    return np.argsort(centroids @ axis, kind="stable")


def off_column(centroids: np.ndarray, axis: np.ndarray, width: float, limit: float,
               keep: np.ndarray | None = None, scores: np.ndarray | None = None) -> list[int]:
    """Positions (into centroids) farther than ``limit * width`` from a robust column curve.

    ``keep``: the objects the curve's first fit may use (default all). ``scores``: detection
    scores, which weigh each object's pull on the curve (its squared residual, by score
    squared). A detector that also finds the posterior elements draws a second, fainter line
    beside the bodies; unweighted, the curve ran between the two lines and rejected real
    bodies along with the false ones.
    """
    n = len(centroids)
    if n < 4:
        return []
    normal = np.array([-axis[1], axis[0]])
    s, t = centroids @ axis, centroids @ normal
    keep = np.ones(n, bool) if keep is None else np.array(keep, bool)
    if keep.sum() < 2:
        keep[:] = True
    weight = np.ones(n) if scores is None else np.clip(np.asarray(scores, float), 1e-3, None)
    for _ in range(3):
        deg = 2 if keep.sum() >= 5 else 1
        coef = np.polyfit(s[keep], t[keep], deg, w=weight[keep])
        resid = np.abs(t - np.polyval(coef, s))
        worst = int(np.argmax(np.where(keep, resid, -1)))
        if resid[worst] > limit * width and keep.sum() > 3:
            keep[worst] = False
        else:
            break
    resid = np.abs(t - np.polyval(coef, s))
    return [i for i in range(n) if resid[i] > limit * width]


def continues_column(centroids: np.ndarray, axis: np.ndarray, off: list[int]) -> list[int]:
    """Those of ``off`` (positions into centroids) that continue the column past its end.

    A curve through the whole column cannot follow its sharpest turn, the lumbosacral
    junction: a tilted S1 sits a body width off it, as far as a spinous process beside L5.
    What tells them apart is the path: S1 lies past the last body, within reach of it, turning
    from the column's last step by less than ``SACRAL_TURN``, while anything beside a body
    lies square to the column. Past the end means no body of the column lies beyond the
    nearest one, unless as far away as a femoral head below the sacrum.
    """
    line = np.array([i for i in range(len(centroids)) if i not in off], int)
    if len(line) < 3:
        return []
    chain = centroids[line[order_along(centroids[line], axis)]]
    step = float(np.median(np.linalg.norm(np.diff(chain, axis=0), axis=1)))
    out = []
    for i in off:
        k = int(np.argmin(np.linalg.norm(chain - centroids[i], axis=1)))
        reach = centroids[i] - chain[k]
        if np.linalg.norm(reach) > KINK_DISTANCE * step:
            continue
        for inner, outer in ((k - 1, k + 1), (k + 1, k - 1)):
            if not 0 <= inner < len(chain):
                continue
            if 0 <= outer < len(chain) and (
                    np.linalg.norm(chain[outer] - chain[k]) <= KINK_DISTANCE * step):
                continue  # a body lies beyond: the column does not end here
            if unit(chain[k] - chain[inner]) @ unit(reach) > np.cos(np.deg2rad(SACRAL_TURN)):
                out.append(i)
                break
    return out


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

"""Disease on top of the healthy geometry: osteophytes, and how slips are graded.

Listhesis, wedge fractures and disc height loss are applied while the spine is stacked
(``anatomy._build_spine``) because they move everything above them; osteophytes are added
afterwards as beaks merged into the body outline (annotators outline them with the body).
"""

from __future__ import annotations

import numpy as np
from shapely.geometry import Polygon

from lumbarseg.phantom.shapes import perp


def meyerding_grade(percent: float) -> int:
    """Meyerding grade 1-5 of a slip in percent of the lower endplate (sign ignored)."""
    slip = abs(percent)
    for grade, limit in enumerate((25.0, 50.0, 75.0, 100.0), start=1):
        if slip <= limit:
            return grade
    return 5


def slip_percent(upper_corners: np.ndarray, lower_corners: np.ndarray) -> float:
    """Slip of the upper body's posterior-inferior corner over the lower body's superior
    endplate, in percent of that endplate's length (positive = anterolisthesis)."""
    sa, sp = lower_corners[0], lower_corners[1]
    endplate = sa - sp
    length = float(np.linalg.norm(endplate))
    return float(np.dot(upper_corners[2] - sp, endplate / length) / length * 100.0)


def add_osteophytes(params, bodies: dict) -> list[dict]:
    """Merge drawn osteophyte beaks into body outlines; skip any that would touch a neighbour."""
    order = ["S1", *params.stack]
    records = []
    for level, corner, size in params.osteophytes:
        if level not in bodies:
            continue
        body = bodies[level]
        idx = order.index(level)
        if corner == "superior-anterior":
            if idx + 1 >= len(order):
                continue
            neighbour = bodies[order[idx + 1]]
            tip_base = body.corners[0]
            outward, toward = body.u_sup, perp(body.u_sup)
            gap = float(np.linalg.norm(neighbour.corners[3] - tip_base))
        else:
            neighbour = bodies[order[idx - 1]]
            tip_base = body.corners[3]
            outward, toward = body.u_inf, -perp(body.u_inf)
            gap = float(np.linalg.norm(neighbour.corners[0] - tip_base))
        rise = min(0.8 * size, 0.35 * gap)
        tip = tip_base + 0.8 * size * outward + rise * toward
        beak = np.array([tip_base - 6.0 * toward + 0.3 * outward, tip,
                         tip_base - 5.0 * outward + 0.5 * toward, tip_base - 2.0 * outward])
        merged = Polygon(body.outline).union(Polygon(beak).buffer(0.4))
        if merged.geom_type != "Polygon" or merged.intersects(Polygon(neighbour.outline)):
            continue
        body.outline = np.asarray(merged.exterior.coords)[:-1]
        records.append({"level": level, "corner": corner, "size_mm": round(size, 2)})
    return records

"""Postoperative hardware placed on the built spine: pedicle screws, rods, cages, plates.

Every implant becomes a metal ``Shape`` (rendered saturated, with blooming) and a truth
record with its outline, so tests can check that the labeller is not fooled by metal.
"""

from __future__ import annotations

import numpy as np
from shapely.geometry import Polygon

from lumbarseg.phantom.anatomy import Anatomy, Shape, _local_frame
from lumbarseg.phantom.params import PhantomParams
from lumbarseg.phantom.shapes import band, chaikin, perp, quad, rotate, threaded_shank, unit

METAL_MU = 7.0


def add_implants(params: PhantomParams, anatomy: Anatomy) -> list[dict]:
    """Add metal shapes to ``anatomy``; return the truth records (polygons in mm)."""
    plan = params.implants
    if plan is None:
        return []
    records: list[dict] = []
    if plan["screws"]:
        heads: list[list[np.ndarray]] = [[], []]
        for i, level in enumerate(plan["fused"]):
            for side in (0, 1):
                jitter = plan["screw_jitter"][2 * i + side]
                outline, head = _screw(params, anatomy, level, side, jitter, plan["screw_len_mm"])
                records.append({"type": "screw", "level": level, "polygon": outline})
                heads[side].append(head)
        for side in (0, 1):
            rod = _rod(heads[side])
            records.append({"type": "rod", "levels": list(plan["fused"]), "polygon": rod})
    for upper in plan["cages"]:
        records.extend(_cage(anatomy, upper, plan["cage_material"], params))
    if plan["plate"] is not None:
        records.extend(_plate(anatomy, plan["plate"], params))
    for rec in records:
        if rec["type"] == "cage" and rec.get("material") == "peek":
            anatomy.shapes.append(Shape(rec["polygon"], 0.08, layer="bone", rim=0.05, rim_mm=1.0))
        elif rec["type"] != "marker":
            rim = 0.0 if rec["type"] != "cage" else METAL_MU
            fill = METAL_MU if rec["type"] != "cage" else 1.2
            anatomy.shapes.append(Shape(rec["polygon"], fill, layer="metal", rim=rim, rim_mm=2.0))
        else:
            anatomy.shapes.append(Shape(rec["polygon"], METAL_MU, layer="metal"))
    return [r for r in records if r["type"] != "marker"]


def _below(params: PhantomParams, level: str) -> str:
    order = ["S1", *params.stack]
    return order[order.index(level) - 1]


def _screw(params, anatomy, level, side, jitter, length):
    body = anatomy.bodies[level]
    origin, u, h = _local_frame(body)
    pl = params.bodies.get(level, {}).get("pedicle_len", 14.0)
    entry = quad(origin, u, [(-pl - 4.0 + 0.8 * jitter, -0.42 * h + 0.8 * side)])[0]
    if level == "S1":
        target = body.corners[0] - 0.35 * h * perp(body.u_sup)
        direction = unit(target - entry)
    else:
        direction = rotate(u[None], -3.0 + 2.0 * jitter + 1.5 * side)[0]
    tip = entry + length * direction
    shank = threaded_shank(entry, tip, 6.5)
    head_c = entry - 5.5 * direction
    head = quad(head_c - 6.5 * direction - 5.5 * perp(direction), direction,
                [(0, 0), (13, 0), (13, 11), (0, 11)])
    outline = Polygon(shank).buffer(0).union(Polygon(head))
    return np.asarray(outline.exterior.coords)[:-1], head_c - 3.0 * direction


def _rod(heads: list[np.ndarray]) -> np.ndarray:
    pts = np.array(heads)
    ends = unit(pts[-1] - pts[0]) if len(pts) > 1 else np.array([0.0, 1.0])
    line = np.concatenate([[pts[0] - 6.0 * ends], pts, [pts[-1] + 6.0 * ends]])
    return band(chaikin(line, 2), 5.5)


def _cage(anatomy, upper, material, params) -> list[dict]:
    up = anatomy.bodies[upper].corners
    low = anatomy.bodies[_below(params, upper)].corners
    top = [up[2] + t * (up[3] - up[2]) for t in (0.22, 0.82)]
    bottom = [low[1] + t * (low[0] - low[1]) for t in (0.82, 0.22)]
    cage = np.array([top[0], top[1], bottom[0], bottom[1]])
    centre = cage.mean(axis=0)
    cage = centre + (cage - centre) * 0.96  # seated just inside the endplates
    records = [{"type": "cage", "level": f"{upper}-{_below(params, upper)}", "material": material,
                "polygon": cage}]
    if material == "peek":
        for t in (0.1, 0.5, 0.9):
            a = cage[0] + t * (cage[1] - cage[0])
            b = cage[3] + t * (cage[2] - cage[3])
            pin = np.array([a + 0.25 * (b - a), a + 0.75 * (b - a)]) if t == 0.5 else np.array(
                [a + 0.1 * (b - a), a + 0.25 * (b - a)])
            records.append({"type": "marker", "polygon": band(pin, 1.2)})
    return records


def _plate(anatomy, upper, params) -> list[dict]:
    up = anatomy.bodies[upper].corners
    low = anatomy.bodies[_below(params, upper)].corners
    a = up[3] + 0.45 * (up[0] - up[3])
    b = low[0] + 0.45 * (low[3] - low[0])
    out = unit(perp(unit(b - a)))
    if np.dot(out, unit(up[0] - up[1])) < 0:
        out = -out
    line = np.array([a, (a + b) / 2 + 1.5 * out, b]) + 2.0 * out
    records = [{"type": "plate", "level": f"{upper}-{_below(params, upper)}",
                "polygon": band(chaikin(line, 2), 3.5)}]
    for point in (a, b):
        shank = threaded_shank(point + 1.0 * out, point - 22.0 * out, 5.0)
        records.append({"type": "screw", "level": upper, "polygon": shank})
    return records

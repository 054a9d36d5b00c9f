"""Patient frame (mm) to image pixels: pose, field of view, clipping, and the truth record.

Pixel coordinates follow COCO: pixel (row r, column c) covers [c, c+1] x [r, r+1], so a
polygon vertex at (x, y) sits at continuous image position x, y.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.validation import make_valid

from lumbarseg.levels import LEVELS
from lumbarseg.phantom.anatomy import Anatomy
from lumbarseg.phantom.disease import meyerding_grade, slip_percent
from lumbarseg.phantom.params import PhantomParams
from lumbarseg.phantom.shapes import angle_deg, perp

# An instance cut by the field of view is annotated only if this share of it is visible.
MIN_VISIBLE_FRACTION = 0.3


@dataclass
class View:
    """mm (patient frame) -> px affine, and the image size."""

    linear: np.ndarray  # 2x2
    offset: np.ndarray  # 2
    spacing_mm: float
    height: int
    width: int

    def to_px(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, dtype=float) @ self.linear.T + self.offset) / self.spacing_mm


def choose_view(params: PhantomParams, anatomy: Anatomy) -> View:
    flip = 1.0 if params.facing == "right" else -1.0
    a = np.deg2rad(params.rotation_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    linear = rot @ np.diag([flip, -1.0])  # image y grows downwards
    top_body = next(n for n in reversed(params.stack) if not n.startswith("T"))
    top = anatomy.bodies[top_body].outline @ linear.T
    s1 = anatomy.bodies["S1"].outline @ linear.T
    fov = params.fov
    t_lo, t_hi = top[:, 1].min(), top[:, 1].max()
    s_lo, s_hi = s1[:, 1].min(), s1[:, 1].max()
    column = float(s_hi - t_lo)
    extra = column / fov["column_fraction"] - column
    margin_top = max(extra * fov["top_share"], 8.0)
    margin_bottom = max(extra * (1.0 - fov["top_share"]), 15.0)
    y_top = t_lo + fov["top_cut"] * (t_hi - t_lo) if fov["top_cut"] else t_lo - margin_top
    y_bot = (s_hi - fov["bottom_cut"] * (s_hi - s_lo) if fov["bottom_cut"]
             else s_hi + margin_bottom)
    height, width = params.size
    spacing = round(float(y_bot - y_top) / height, 4)
    lumbar = np.concatenate([anatomy.bodies[n].outline for n in ("L1", "L3", "L5")]) @ linear.T
    centre_x = lumbar[:, 0].mean() + fov["x_shift"] * width * spacing
    origin = np.array([centre_x - width * spacing / 2, y_top])
    return View(linear=linear, offset=-origin, spacing_mm=spacing, height=height, width=width)


def _polygons(geom) -> list[Polygon]:
    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)]


def _clip(points_px: np.ndarray, view: View) -> tuple[list[Polygon], float, Polygon]:
    full = Polygon(points_px)
    if not full.is_valid:
        full = max(_polygons(make_valid(full)), key=lambda p: p.area)
    clipped = full.intersection(box(0, 0, view.width, view.height))
    parts = [p.simplify(0.15) for p in _polygons(clipped) if p.area > 1.0]
    visible = sum(p.area for p in parts) / full.area if full.area > 0 else 0.0
    return parts, float(visible), full


def _flat(poly: Polygon) -> list[float]:
    coords = np.asarray(poly.exterior.coords)[:-1]
    return [round(float(v), 2) for v in coords.reshape(-1)]


def _r(x: float, nd: int = 3) -> float:
    return round(float(x), nd)


def annotate(params: PhantomParams, anatomy: Anatomy, view: View,
             implants: list[dict]) -> tuple[list[dict], dict]:
    """Instances (level, polygons, corners, area, bbox) and the truth dictionary."""
    bodies = anatomy.bodies
    # Counting from the sacrum: lumbar-type bodies above L1 (lumbarised S1) are extras.
    names = {"S1": "S1", **{n: n for n in params.stack}}
    instances, dropped, clipped, extras = [], {}, {}, []
    fulls: dict[str, Polygon] = {}
    for name, body in bodies.items():
        parts, visible, full = _clip(view.to_px(body.outline), view)
        corners = view.to_px(body.corners)
        level = names[name]
        if level in LEVELS:
            fulls[level] = full
            if visible < MIN_VISIBLE_FRACTION or not parts:
                dropped[level] = _r(visible)
                continue
            if visible < 0.999:
                clipped[level] = _r(visible)
            instances.append({
                "level": level,
                "polygons": [_flat(p) for p in parts],
                "corners": [[_r(x, 2), _r(y, 2)] for x, y in corners],
                "area": _r(sum(p.area for p in parts), 2),
                "bbox": _bbox(parts),
            })
        elif parts and name in ("X", "T12"):
            extras.append({
                "name": "extra_lumbar" if name == "X" else "T12",
                "position": "above_L1" if name == "X" else "above_L1_or_extra",
                "polygons": [_flat(p) for p in parts],
                "corners": [[_r(x, 2), _r(y, 2)] for x, y in corners],
                "visible_fraction": _r(visible),
            })
    instances.sort(key=lambda inst: LEVELS.index(inst["level"]))

    order = ["S1", *params.stack]
    listhesis, lordosis, discs, vertebrae = _spine_truth(params, bodies, fulls, names, order)

    implant_truth = []
    for rec in implants:
        parts, visible, _ = _clip(view.to_px(rec["polygon"]), view)
        if not parts:
            continue
        entry = {k: v for k, v in rec.items() if k != "polygon"}
        entry["polygon"] = _flat(max(parts, key=lambda p: p.area))
        entry["visible_fraction"] = _r(visible)
        implant_truth.append(entry)

    truth = {
        "facing": params.facing,
        "transitional": params.patient.transitional,
        "listhesis": listhesis,
        "implants": implant_truth,
        "postop": params.postop,
        "fused_levels": list(params.implants["fused"]) if params.implants else [],
        "lordosis_deg": _r(lordosis, 2),
        "sacral_slope_deg": _r(-_endplate_angle(bodies, "S1", "sup"), 2),
        "rotation_deg": _r(params.rotation_deg, 2),
        "pixel_spacing_mm": [view.spacing_mm, view.spacing_mm],
        "fov_cut": {"top": params.fov["top_cut"] is not None,
                    "bottom": params.fov["bottom_cut"] is not None},
        "levels_present": [inst["level"] for inst in instances],
        "dropped_levels": dropped,
        "clipped_levels": clipped,
        "extra_bodies": extras,
        "vertebrae": vertebrae,
        "discs": discs,
        "osteophytes": anatomy.osteophytes,
    }
    return instances, truth


def _endplate_angle(bodies: dict, name: str, which: str) -> float:
    c = bodies[name].corners
    return angle_deg(c[0] - c[1]) if which == "sup" else angle_deg(c[3] - c[2])


def _spine_truth(params: PhantomParams, bodies: dict, fulls: dict[str, Polygon],
                 names: dict[str, str], order: list[str]) -> tuple[dict, float, dict, dict]:
    """(listhesis, lordosis, discs, vertebrae) of the truth, from the bodies' corners."""
    listhesis = {}
    for level in sorted(params.listhesis):
        lower = order[order.index(level) - 1]
        percent = slip_percent(bodies[level].corners, bodies[lower].corners)
        overlap = fulls[level].intersection(fulls[lower]).area if lower in fulls else 0.0
        listhesis[level] = {"percent": _r(percent, 2), "grade": meyerding_grade(percent),
                            "on": lower, "direction": "anterior" if percent >= 0 else "posterior",
                            "overlap": bool(overlap > 0.5), "overlap_area_px": _r(overlap, 1)}

    lordosis = _endplate_angle(bodies, "L1", "sup") - _endplate_angle(bodies, "S1", "sup")
    discs, vertebrae = {}, {}
    for i, name in enumerate(order[1:], start=1):
        lower = order[i - 1]
        up, low = bodies[name].corners, bodies[lower].corners
        n_low = perp((low[0] - low[1]) / np.linalg.norm(low[0] - low[1]))
        key = f"{names[name]}-{names[lower]}" if name != "X" else f"extra-{names[lower]}"
        discs[key] = {
            "anterior_height_mm": _r(np.dot(up[3] - low[0], n_low), 2),
            "posterior_height_mm": _r(np.dot(up[2] - low[1], n_low), 2),
            "angle_deg": _r(_endplate_angle(bodies, name, "inf")
                            - _endplate_angle(bodies, lower, "sup"), 2),
            "height_loss": _r(params.disc_loss.get(name, 0.0)),
        }
    for name in ("L1", "L2", "L3", "L4", "L5"):
        c = bodies[name].corners
        vertebrae[name] = {
            "anterior_height_mm": _r(np.linalg.norm(c[0] - c[3]), 2),
            "posterior_height_mm": _r(np.linalg.norm(c[1] - c[2]), 2),
            "fracture_anterior_loss": _r(params.fractures[name]) if name in params.fractures
            else None,
        }
    return listhesis, lordosis, discs, vertebrae


def _bbox(parts: list[Polygon]) -> list[float]:
    xs0, ys0, xs1, ys1 = zip(*(p.bounds for p in parts), strict=True)
    x0, y0, x1, y1 = min(xs0), min(ys0), max(xs1), max(ys1)
    return [_r(x0, 2), _r(y0, 2), _r(x1 - x0, 2), _r(y1 - y0, 2)]

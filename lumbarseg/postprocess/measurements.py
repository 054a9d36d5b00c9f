"""Clinical measurements from labelled endplates: lordosis, segmental angles, sacral slope,
body heights and listhesis, in pixels and (when the spacing is known) millimetres.

Angles use endplate directions taken posterior -> anterior in physical space (mm when the
spacing is known, so anisotropic pixels do not bend angles), counted positive when the
anterior end is cranial relative to the image. Lordosis is positive when endplates open
anteriorly (the normal lumbar curve).
"""

from __future__ import annotations

import math

import numpy as np

from lumbarseg.levels import EXTENDED_LEVELS, LEVELS, level_rank
from lumbarseg.postprocess.endplates import Endplate

MAX_DISC_ANGLE_DEG = 45.0


def meyerding_grade(percent: float, min_percent: float = 5.0) -> int:
    """Meyerding grade 1-5 (25 % steps of the lower endplate); 0 below ``min_percent``."""
    slip = abs(percent)
    if slip < min_percent:
        return 0
    for grade, limit in enumerate((25.0, 50.0, 75.0, 100.0), start=1):
        if slip <= limit:
            return grade
    return 5


def _scale(spacing_mm) -> np.ndarray | None:
    if spacing_mm is None:
        return None
    values = np.atleast_1d(np.asarray(spacing_mm, dtype=float))
    row, col = (values[0], values[0]) if values.size == 1 else (values[0], values[1])
    return np.array([col, row])  # XY


def _angle(plate: Endplate, scale: np.ndarray | None, facing: str) -> float:
    """Degrees of the posterior->anterior direction above the anterior horizontal."""
    d = plate.anterior - plate.posterior
    if scale is not None:
        d = d * scale
    forward = d[0] if facing == "right" else -d[0]  # component toward the anterior side
    return math.degrees(math.atan2(-d[1], forward))


def _difference(a: float, b: float) -> float:
    """Angle a - b wrapped into (-180, 180]: endplate directions near vertical can wrap."""
    return round(-((b - a + 180.0) % 360.0 - 180.0), 2) + 0.0


def _length(vec: np.ndarray, scale: np.ndarray | None) -> float | None:
    return None if scale is None else float(np.linalg.norm(vec * scale))


def measure(plates: dict[str, dict[str, Endplate]], facing: str, spacing_mm=None,
            min_percent: float = 5.0) -> dict:
    """Measurements from {level: {"superior": Endplate, "inferior": Endplate (not S1)}}."""
    scale = _scale(spacing_mm)
    present = [lv for lv in EXTENDED_LEVELS if lv in plates]
    ang = {lv: {k: _angle(p, scale, facing) for k, p in plates[lv].items()} for lv in present}
    out: dict = {"facing": facing, "units": {"angles": "deg", "lengths": "px and mm"},
                 "pixel_spacing_mm": None if scale is None else [float(scale[1]), float(scale[0])]}
    # A disc wedged beyond this is an endplate misfit (e.g. a body cut by the film edge),
    # not anatomy: measurements through that endplate are withheld, not reported wrong.
    unreliable = sorted(
        lower for upper, lower in zip(present[:-1], present[1:], strict=False)
        if "inferior" in ang[upper]
        and abs(_difference(ang[upper]["inferior"], ang[lower]["superior"])) > MAX_DISC_ANGLE_DEG
    )
    usable = {lv for lv in present if lv not in unreliable}
    out["unreliable_endplates"] = unreliable
    out["lordosis_deg"] = (_difference(ang["L1"]["superior"], ang["S1"]["superior"])
                           if {"L1", "S1"} <= usable else None)
    out["sacral_slope_deg"] = round(-ang["S1"]["superior"], 2) if "S1" in usable else None
    segmental, disc = {}, {}
    for upper, lower in zip(present[:-1], present[1:], strict=False):
        if level_rank(lower) - level_rank(upper) != 1 and not (upper == "L5" and lower == "S1"):
            continue  # not neighbours: a missing body in between
        if not {upper, lower} <= usable:
            continue
        name = f"{upper}-{lower}"
        segmental[name] = _difference(ang[upper]["superior"], ang[lower]["superior"])
        if "inferior" in ang[upper]:
            disc[name] = _difference(ang[upper]["inferior"], ang[lower]["superior"])
    out["segmental_angles_deg"] = segmental
    out["disc_angles_deg"] = disc
    out["endplate_angles_deg"] = {lv: {k: round(v, 2) for k, v in a.items()}
                                  for lv, a in ang.items()}
    heights = {}
    for lv in present:
        if "inferior" not in plates[lv]:
            continue
        sup, inf = plates[lv]["superior"], plates[lv]["inferior"]
        ant, post = inf.anterior - sup.anterior, inf.posterior - sup.posterior
        heights[lv] = {"anterior_px": round(float(np.linalg.norm(ant)), 2),
                       "posterior_px": round(float(np.linalg.norm(post)), 2),
                       "anterior_mm": _round(_length(ant, scale)),
                       "posterior_mm": _round(_length(post, scale))}
    out["body_heights"] = heights
    out["listhesis"] = _listhesis(plates, present, scale, min_percent)
    out["endplates"] = {lv: {k: p.to_json() for k, p in plates[lv].items()} for lv in present}
    return out


def _listhesis(plates, present, scale, min_percent) -> dict:
    """Slip of each body on the one below, keyed by the slipping (upper) level.

    Displacement of the upper body's posterior-inferior corner from the lower body's
    posterior-superior corner, along the lower superior endplate; positive = anterior.
    """
    out = {}
    for upper, lower in zip(present[:-1], present[1:], strict=False):
        gap = level_rank(lower) - level_rank(upper)
        if gap != 1 and not (upper == "L5" and lower == "S1"):
            continue
        if "inferior" not in plates[upper]:
            continue
        base = plates[lower]["superior"]
        w = base.anterior - base.posterior
        s = scale if scale is not None else np.ones(2)
        w_phys = w * s
        length = float(np.linalg.norm(w_phys))
        if length <= 0:
            continue
        shift = (plates[upper]["inferior"].posterior - base.posterior) * s
        slip = float(np.dot(shift, w_phys / length))
        percent = 100.0 * slip / length
        out[upper] = {"percent": round(percent, 2),
                      "grade": meyerding_grade(percent, min_percent),
                      "direction": "anterior" if percent >= 0 else "posterior",
                      "slip_px": round(slip if scale is None else float(
                          np.dot(shift / s, w / np.linalg.norm(w))), 2),
                      "slip_mm": round(slip, 2) if scale is not None else None}
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


__all__ = ["measure", "meyerding_grade", "LEVELS"]

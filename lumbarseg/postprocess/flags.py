"""Image-level QA flags: what a reader must know before trusting the labels."""

from __future__ import annotations

import numpy as np

from lumbarseg.levels import LEVELS


def build_flags(levels: list[str], spans: list[list[str]], confidences: list[float],
                rejected_reasons: list[str], near_top: bool | None, near_bottom: bool | None,
                transitional: bool, facing: str, facing_confidence: float,
                orientation_confidence: float, anchor: str, low_confidence: float) -> dict:
    """Flags as a JSON-ready dict; ``near_top/bottom`` None when the image size is unknown."""
    found = {lv for span in spans for lv in span}
    missing = [lv for lv in LEVELS if lv not in found]
    order = [lv for lv in LEVELS if lv in found]
    gaps = []
    if order:
        first, last = LEVELS.index(order[0]), LEVELS.index(order[-1])
        gaps = [lv for lv in LEVELS[first:last + 1] if lv not in found]
    top_missing = "L1" not in found and "T12" not in found
    bottom_missing = "S1" not in found
    low = [lv for lv, c in zip(levels, confidences, strict=False) if c < low_confidence]
    implants = sorted({r for r in rejected_reasons if r.startswith("implant")})
    return {
        "missing_levels": missing,
        "gap_levels": gaps,  # missing between found levels: hidden by metal or not detected
        "fov_cut_top": bool(order) and top_missing and near_top is not False,
        "fov_cut_bottom": bool(order) and bottom_missing and near_bottom is not False,
        "transitional_suspected": bool(transitional),
        "implants_present": bool(implants),
        "implant_reasons": implants,
        "fused_block": any(len(s) > 1 for s in spans),
        "low_confidence": bool(low) or orientation_confidence < low_confidence,
        "low_confidence_levels": low,
        "min_confidence": round(float(np.min(confidences)), 4) if confidences else None,
        "orientation_confidence": round(orientation_confidence, 4),
        "facing": facing,
        "facing_confidence": round(facing_confidence, 4),
        "anchor": anchor,  # "S1" (sacrum seen), "class_scores", or "none" (counting assumed)
        "no_vertebrae": not levels,
    }


def flag_names(flags: dict) -> list[str]:
    """The raised flags as short strings (for reports and logs)."""
    names = [k for k in ("fov_cut_top", "fov_cut_bottom", "transitional_suspected",
                         "implants_present", "fused_block", "low_confidence", "no_vertebrae")
             if flags.get(k)]
    names += [f"missing_{lv}" for lv in flags.get("missing_levels", [])]
    return names

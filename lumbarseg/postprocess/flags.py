"""Image-level QA flags: what a reader must know before trusting the labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lumbarseg.levels import LEVELS


@dataclass
class ColumnSummary:
    """What the labeller decided about one image's column: the input of ``build_flags``.

    ``levels``/``spans``/``confidences`` are per kept body, cranial -> caudal;
    ``near_top``/``near_bottom`` are None when the image size is unknown.
    """

    levels: list[str] = field(default_factory=list)
    spans: list[list[str]] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    rejected_reasons: list[str] = field(default_factory=list)
    near_top: bool | None = None
    near_bottom: bool | None = None
    transitional: bool = False
    facing: str = "left"
    facing_confidence: float = 0.5
    orientation_confidence: float = 1.0
    anchor: str = "none"


def build_flags(column: ColumnSummary, low_confidence: float) -> dict:
    """Flags as a JSON-ready dict."""
    found = {lv for span in column.spans for lv in span}
    missing = [lv for lv in LEVELS if lv not in found]
    order = [lv for lv in LEVELS if lv in found]
    gaps = []
    if order:
        first, last = LEVELS.index(order[0]), LEVELS.index(order[-1])
        gaps = [lv for lv in LEVELS[first:last + 1] if lv not in found]
    top_missing = "L1" not in found and "T12" not in found
    bottom_missing = "S1" not in found
    confs = column.confidences
    low = [lv for lv, c in zip(column.levels, confs, strict=False) if c < low_confidence]
    implants = sorted({r for r in column.rejected_reasons if r.startswith("implant")})
    return {
        "missing_levels": missing,
        "gap_levels": gaps,  # missing between found levels: hidden by metal or not detected
        "fov_cut_top": bool(order) and top_missing and column.near_top is not False,
        "fov_cut_bottom": bool(order) and bottom_missing and column.near_bottom is not False,
        "transitional_suspected": bool(column.transitional),
        "implants_present": bool(implants),
        "implant_reasons": implants,
        "fused_block": any(len(s) > 1 for s in column.spans),
        "low_confidence": bool(low) or column.orientation_confidence < low_confidence,
        "low_confidence_levels": low,
        "min_confidence": round(float(np.min(confs)), 4) if confs else None,
        "orientation_confidence": round(column.orientation_confidence, 4),
        "facing": column.facing,
        "facing_confidence": round(column.facing_confidence, 4),
        "anchor": column.anchor,  # "S1" (sacrum seen), "class_scores", or "none" (assumed)
        "no_vertebrae": not column.levels,
    }


def flag_names(flags: dict) -> list[str]:
    """The raised flags as short strings (for reports and logs)."""
    names = [k for k in ("fov_cut_top", "fov_cut_bottom", "transitional_suspected",
                         "implants_present", "fused_block", "low_confidence", "no_vertebrae")
             if flags.get(k)]
    names += [f"missing_{lv}" for lv in flags.get("missing_levels", [])]
    return names

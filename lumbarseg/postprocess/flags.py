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
    s1_shape_llr: float | None = None  # shape evidence of the body labelled S1 (nats)
    s1_outline_on_metal: bool = False  # that body's outline follows an implant: taper unread
    s1_class_prob: float | None = None  # the detector's S1 probability for that body
    class_scores: bool = False  # the detector gave level classes
    odd_spacing: list[str] = field(default_factory=list)  # "L1-L2": spacing fits no count
    # levels whose mask is what was left of a detection over two levels (``split_merged_masks``)
    cut_from_merged: list[str] = field(default_factory=list)
    # Best detector score among bodies left out of the column below its lowest labelled body.
    skipped_below_score: float = 0.0
    # the body labelled S1 meets the film's edge on its caudal side: only part of it is seen
    s1_meets_edge: bool = False
    # kept bodies larger than one whose mask holds a duplicate called a level above
    # (``holds_a_level_above``)
    holds_level_above: list[str] = field(default_factory=list)


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
    reasons = low_confidence_reasons(column, low, found, low_confidence)
    return {
        "missing_levels": missing,
        "gap_levels": gaps,  # missing between found levels: hidden by metal or not detected
        "fov_cut_top": bool(order) and top_missing and column.near_top is not False,
        "fov_cut_bottom": bool(order) and bottom_missing and column.near_bottom is not False,
        "transitional_suspected": bool(column.transitional),
        "implants_present": bool(implants),
        "implant_reasons": implants,
        "fused_block": any(len(s) > 1 for s in column.spans),
        "low_confidence": bool(reasons),
        "low_confidence_reasons": reasons,
        "low_confidence_levels": low,
        "min_confidence": round(float(np.min(confs)), 4) if confs else None,
        "orientation_confidence": round(column.orientation_confidence, 4),
        "facing": column.facing,
        "facing_confidence": round(column.facing_confidence, 4),
        "anchor": column.anchor,  # "S1" (sacrum seen), "class_scores", or "none" (assumed)
        "no_vertebrae": not column.levels,
    }


# Shape evidence (nats) below which a body labelled S1 is taken for the sacrum by its place at
# the bottom of the column rather than by its shape (e**2: about 7 to 1).
S1_SHAPE_SURE = 2.0
# Shape and film evidence (nats) below which a body labelled S1 looks lumbar: class scores alone
# then say S1, and a model that missed the sacrum calls the L5 above it S1.
S1_SHAPE_AGAINST = -1.0
# Detector S1 probability that confirms an S1 whose shape does not: a near tie with L5 (a
# model unsure of the lowest body it sees) confirms nothing.
S1_CLASS_SURE = 0.8
# A body the detector is this sure of, left out below the column's lowest labelled body, may be
# the real S1 (or L5): the column could be shifted by one.
SKIPPED_BELOW_SURE = 0.5


def low_confidence_reasons(column: ColumnSummary, low_levels: list[str], found: set[str],
                           low_confidence: float = 0.7) -> list[str]:
    """Why this image's levels could be wrong; empty when nothing suggests it.

    The count runs up from S1, so every way the anchor can fail is named: S1 not seen without
    a film edge to explain it, S1 taken by position only, and more lumbar-type bodies above
    S1 than a count can place without class scores (T12 or an L6).
    """
    reasons = []
    if low_levels:
        reasons.append("level confidence below threshold: " + ", ".join(low_levels))
    if column.orientation_confidence < low_confidence:
        reasons.append("cranial/caudal direction of the column uncertain")
    if not column.levels:
        return reasons
    if column.odd_spacing:
        reasons.append("spacing fits neither adjacent bodies nor a missed one: "
                       + ", ".join(column.odd_spacing))
    if "S1" not in found and column.near_bottom is not True:
        reasons.append("S1 not found and no film edge below the column")
    elif "S1" not in found:
        reasons.append("S1 cut by the film edge: levels counted from the top")
    if "S1" in found and column.s1_meets_edge:
        # A film cut through L5, the sacrum off it, leaves a part of L5 at the edge that a
        # detector scores like S1 and a count cannot tell from a part of S1 (the demo model
        # read about one in five such films a level off).
        reasons.append("S1 meets the film's edge, only partly seen: it could be L5 with the "
                       "sacrum off the film")
    if column.skipped_below_score >= SKIPPED_BELOW_SURE:
        reasons.append(f"a detection below the lowest labelled body (score "
                       f"{column.skipped_below_score:.2f}) was left out: the column could be "
                       "shifted by one level")
    if column.cut_from_merged:
        reasons.append("one detection spanned two levels and was cut to the part the detector "
                       "found nowhere else: " + ", ".join(column.cut_from_merged))
    if column.holds_level_above:
        reasons.append("a mask larger than one body holds a detection called a level above "
                       "it, left out as a duplicate: it may span two levels and the column be "
                       "shifted by one: " + ", ".join(column.holds_level_above))
    if "sacral_segment" in column.rejected_reasons:
        reasons.append("a faint body fused under the sacrum was taken for a lower sacral "
                       "segment: if it was S1, the column is shifted by one level")
    sure_by_class = (column.s1_class_prob or 0.0) >= S1_CLASS_SURE
    if (column.class_scores and "S1" in found and column.s1_shape_llr is not None
            and column.s1_shape_llr < S1_SHAPE_AGAINST):
        reasons.append("S1 by class score only: its shape and the film below it look lumbar")
    if "S1" in found and column.s1_outline_on_metal:
        reasons.append("S1's outline follows an implant: its taper was not read, so S1 "
                       "rests on the film, class scores and position")
    elif ("S1" in found and column.s1_shape_llr is not None
            and column.s1_shape_llr < S1_SHAPE_SURE and not sure_by_class):
        reasons.append("S1 recognised by position only (its shape is not clearly sacral)")
    above = sum(1 for span in column.spans for lv in span if lv != "S1")
    if not column.class_scores and "S1" in found and above >= 6:
        # Counting from the sacrum is the convention when only a lumbar film is seen, and a
        # T12 above L1 is far commoner than a sixth lumbar body; but without ribs or class
        # scores the two readings cannot be told apart, so the image is always flagged.
        reasons.append(f"{above} lumbar-type bodies above S1: T12..L5 or L1..L6 cannot be told "
                       "apart without ribs or class scores; counted from the sacrum (top body "
                       "could be L1 or T12)")
    elif "L6" in found:
        # Class scores cannot confirm an L6 either: a detector without thoracic or L6 classes
        # scores T12 as "L1" and an L6 as "L5", and one that counts from the top of the film
        # shifts every class by one when a T12 is in view; an L6 then reconciles its scores
        # with the sacrum, which is the commoner error than a real sixth lumbar body.
        reasons.append("L6 counted: a sixth lumbar body cannot be confirmed by class scores "
                       "(the column could be T12..L5)")
    return reasons


def flag_names(flags: dict) -> list[str]:
    """The raised flags as short strings (for reports and logs)."""
    names = [k for k in ("fov_cut_top", "fov_cut_bottom", "transitional_suspected",
                         "implants_present", "fused_block", "low_confidence", "no_vertebrae")
             if flags.get(k)]
    names += [f"missing_{lv}" for lv in flags.get("missing_levels", [])]
    return names

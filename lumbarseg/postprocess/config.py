"""The labeller's thresholds and priors, in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LabellerConfig:
    """Tunable numbers of the labeller. Defaults were set on real BUU-LSPINE geometry."""

    # --- filtering (what is not a vertebral body) ---
    duplicate_iou: float = 0.5  # mask IoU above which two detections are the same body
    duplicate_containment: float = 0.7  # share of the smaller mask inside the larger one
    # the smaller of such a pair goes unless it scores this much higher than the larger
    containment_score_margin: float = 0.3
    # the body called S1 goes (a lower sacral segment) when fused to the body above without a
    # disc and scoring this much lower than it
    fused_segment_score_margin: float = 0.3
    max_elongation: float = 2.8  # long/short side of the min-area rectangle (screws, rods)
    min_area_ratio: float = 0.35  # area vs median body area: below = fragment or cage
    max_area_ratio: float = 2.7  # above = not one or two bodies
    # a mask this many median body areas or more, holding a body-sized detection of a higher
    # level, is cut down to its leftover when that is at least ``split_min_leftover`` of a body
    split_min_area_ratio: float = 1.5
    split_min_leftover: float = 0.5
    fused_height_ratio: float = 1.65  # height vs median body height: two bodies in one mask
    metal_fraction: float = 0.75  # share of a mask at the image's saturated level = metal
    # share of a body's outline lying on metal above which its taper is not taken for the
    # sacrum's (the mask follows the implant there, not the bone)
    outline_on_metal: float = 0.05
    off_column_widths: float = 0.9  # centroid distance from the column curve, in body widths
    min_score: float = 0.05  # detections below this score are ignored
    # --- assignment (one decision for the whole column) ---
    class_score_weight: float = 0.5  # weight of detector class scores vs anatomy
    class_rank_weight: float = 0.25  # of those, the weight of the rank among T11..L6
    shape_weight: float = 1.0  # weight of the S1-shape evidence
    image_weight: float = 1.0  # weight of the film's evidence (disc gap below or not), 0 = off
    spacing_sigma: float = 0.2  # log-ratio std of centroid spacing vs expected
    local_spacing: float = 1.0  # power of the pair's relative height in its expected spacing
    s1_step_ratio: float = 0.88  # S1's centre sits closer to L5 than lumbar centres to each other
    gap_penalty: float = 2.5  # log-cost per level missing between two kept bodies
    # prior of a sixth lumbar body (L6, lumbarised S1). Low: levels are counted from the sacrum
    # (the convention on a lumbar film), so six lumbar-type bodies read T12..L5 unless the
    # evidence for an L6 is strong; a detector that counts from the top of the film (T12 as
    # "L1") would otherwise push a T12 or T11 into an L6 and shift every level. Raise it
    # where films are read counting from the top (ribs or C2 in view).
    transitional_prior: float = 0.02
    t12_prior: float = 0.3  # prior that the top body is T12 (T11 a quarter of it)
    thoracic_above_prior: float = 0.3  # per vertebra seen above T11 (thoracolumbar film)
    top_cut_prior: float = 0.2  # prior that the first body found is below L1 (L1 missed)
    bottom_cut_prior: float = 0.15  # prior that the last body found is above S1 (film low-centred)
    skip_below_s1: float = 3.0  # log-cost per body left unlabelled below the body called S1
    low_confidence: float = 0.7  # level confidence below this raises the low_confidence flag
    # --- outlines ---
    # An S1 outline taller (along its own axis) than this many median lumbar bodies has run on
    # into the lower sacrum: it is cut at ``s1_kept_height`` below its superior endplate
    # (``sacrum_outline``); 0 keeps S1 as detected (an annotation protocol that outlines the
    # whole sacrum as S1).
    s1_max_height: float = 1.5
    s1_kept_height: float = 1.2
    # --- measurements ---
    meyerding_min_percent: float = 5.0  # slips below this are grade 0 (within annotation noise)

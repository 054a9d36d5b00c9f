"""``label_vertebrae``: one image's candidates in; labelled vertebrae, flags, measurements out."""

from __future__ import annotations

import numpy as np

from lumbarseg.postprocess.assignment import (
    EXT_LEVELS,
    NEXT_BODY_REACH,
    BodyEvidence,
    assign_levels,
)
from lumbarseg.postprocess.candidates import Candidate
from lumbarseg.postprocess.config import LabellerConfig
from lumbarseg.postprocess.endplates import Endplate, endplates
from lumbarseg.postprocess.facing import infer_facing
from lumbarseg.postprocess.filtering import (
    filter_candidates,
    holds_a_level_above,
    outline_on_metal,
    split_merged_masks,
)
from lumbarseg.postprocess.flags import ColumnSummary, build_flags
from lumbarseg.postprocess.geometry import Shape, shape_of, unit
from lumbarseg.postprocess.measurements import measure
from lumbarseg.postprocess.ordering import (
    KINK_ANGLE,
    KINK_DISTANCE,
    SACRAL_TURN,
    SHARP_KINK_ANGLE,
    SHARP_KINK_DISTANCE,
    column_axis,
    continues_column,
    not_isolated,
    off_column,
    order_along,
    tangents,
)
from lumbarseg.postprocess.result import LabelledVertebra, LabellingResult, Rejection
from lumbarseg.postprocess.sacrum import sacrum_llr
from lumbarseg.postprocess.sacrum_image import fused_to_bone_above, image_sacrum_llrs
from lumbarseg.postprocess.sacrum_outline import trim_sacrum


def label_vertebrae(candidates: list[Candidate], image: np.ndarray | None = None,
                    pixel_spacing_mm=None, config: LabellerConfig | None = None,
                    image_shape: tuple[int, int] | None = None,
                    caudal: tuple[float, float] | None = None) -> LabellingResult:
    """Label the vertebral bodies among one image's candidates.

    ``image`` (HxW, higher = brighter) enables the metal test; ``pixel_spacing_mm`` (row, col)
    or one number adds millimetres; ``image_shape`` (H, W) tells where the film ends when
    neither image nor masks carry it (polygon-only input). ``caudal`` (x, y) is the image
    direction toward the feet where the file says so (``Radiograph.caudal``); without it a
    film is taken to hang head up.
    """
    config = config or LabellerConfig()
    if image is not None:
        image_shape = tuple(np.asarray(image).shape[:2])
    elif image_shape is None:
        image_shape = next((tuple(c.mask.shape) for c in candidates if c.mask is not None), None)
    as_detected = candidates
    candidates = split_merged_masks(candidates, config)
    shapes = [shape_of(c) for c in candidates]
    alive, rejected = filter_candidates(candidates, shapes, image, image_shape, config)
    alive, rejected = _drop_off_column(alive, rejected, shapes, candidates, config)
    on_metal = _outlines_on_metal(alive, shapes, image, config)
    column = ColumnSummary()
    vertebrae: list[LabelledVertebra] = []
    measurements: dict = {}
    if alive:
        vertebrae, kept_shapes, kept_ev, caudal_axis = _label_column(
            candidates, shapes, alive, rejected, image_shape, config, column, image, on_metal,
            caudal)
        plates, column.facing, column.facing_confidence = _endplates_and_facing(
            kept_shapes, column.levels, caudal_axis)
        measurements = measure(plates, column.facing, pixel_spacing_mm,
                               config.meyerding_min_percent)
        column.transitional = _transitional(column.levels, kept_shapes, kept_ev)
        column.holds_level_above = holds_a_level_above(
            candidates, {v.index: v.level for v in vertebrae}, rejected, config)
        if image_shape is not None and kept_shapes:
            height = max(np.median([e.height for e in kept_ev]), 1.0)
            column.near_top = _near_border(kept_shapes[0], -caudal_axis, image_shape,
                                           1.5 * height)
            column.near_bottom = _near_border(kept_shapes[-1], caudal_axis, image_shape,
                                              1.5 * height)
            column.s1_meets_edge = column.levels[-1] == "S1" and _near_border(
                kept_shapes[-1], caudal_axis, image_shape, S1_EDGE_MARGIN * height)
    for v in vertebrae:
        if candidates[v.index] is not as_detected[v.index]:  # a two-level mask cut down
            v.reshaped = True
            column.cut_from_merged.append(v.level)
    column.anchor = ("S1" if "S1" in column.levels else
                     "class_scores" if any(c.class_scores is not None or c.class_id is not None
                                           for c in candidates) else "none")
    column.rejected_reasons = list(rejected.values())
    flags = build_flags(column, config.low_confidence)
    rejections = [Rejection(i, r) for i, r in sorted(rejected.items())]
    return LabellingResult(vertebrae, rejections, flags, measurements)


def _label_column(candidates: list[Candidate], shapes: list[Shape], alive: list[int],
                  rejected: dict[int, str], image_shape, config: LabellerConfig,
                  column: ColumnSummary, image: np.ndarray | None = None,
                  on_metal: frozenset[int] = frozenset(),
                  feet: tuple[float, float] | None = None):
    """Order the surviving bodies, assign levels (filling ``column``'s per-body lists).

    ``feet``: the header's direction toward the feet (``label_vertebrae``'s ``caudal``).
    Returns (vertebrae, kept shapes, kept evidence, caudal unit vector).
    """
    while True:
        ordered, evidence, down, result = _assign(candidates, shapes, alive, image_shape,
                                                  config, image, on_metal, feet)
        kinked = _kinked_end(evidence, result)
        if kinked is not None:
            rejected[ordered[kinked]] = "off_column"
            alive = [i for i in alive if i != ordered[kinked]]
            continue
        segment = _sacral_segment(candidates, shapes, ordered, result, image, config)
        if segment is None:
            break
        rejected[segment] = "sacral_segment"
        alive = [i for i in alive if i != segment]
    column.orientation_confidence = result.orientation_confidence
    column.class_scores = any(e.class_probs is not None for e in evidence)
    # Positions index ``ordered``; caudal positions grow unless the column runs up the list.
    caudal_step = -1 if result.reversed else 1
    for pos in result.skipped:
        rejected[ordered[pos]] = "not_in_column"
    if result.positions:
        first, last = result.positions[0], result.positions[-1]
        if EXT_LEVELS[result.levels[0]] == "T11":
            for pos in result.skipped:
                if (pos - first) * caudal_step < 0:
                    rejected[ordered[pos]] = "thoracic_above_T11"
        column.skipped_below_score = max(
            (candidates[ordered[p]].score for p in result.skipped if (p - last) * caudal_step > 0),
            default=0.0)
    kept = [ordered[p] for p in result.positions]  # cranial -> caudal
    kept_ev = [evidence[p] for p in result.positions]
    kept_shapes = [shapes[i] for i in kept]
    masks = {i: candidates[i].mask for i in kept}
    _trim_s1(kept, result.levels, kept_ev, kept_shapes, masks, config)
    vertebrae = []
    rows = zip(kept, result.levels, result.confidences, kept_ev, kept_shapes, strict=True)
    for idx, lvl, conf, ev, shape in rows:
        name = EXT_LEVELS[lvl]
        span = [EXT_LEVELS[lvl + k] for k in range(ev.span if name != "S1" else 1)]
        column.levels.append(name)
        column.spans.append(span)
        column.confidences.append(conf)
        if name == "S1":
            column.s1_shape_llr = ev.s1_llr_reversed if result.reversed else ev.s1_llr
            column.s1_outline_on_metal = ev.outline_on_metal
            if ev.class_probs is not None:
                column.s1_class_prob = float(ev.class_probs[-1] / max(ev.class_probs.sum(), 1e-9))
        cand = candidates[idx]
        reshaped = shape is not shapes[idx]
        if reshaped:
            box = _mask_box(masks[idx]) if masks[idx] is not None else shape.box
        else:
            box = cand.box if cand.box is not None else shape.box
        vertebrae.append(LabelledVertebra(
            index=idx, level=name, confidence=conf, score=cand.score,
            box=[float(v) for v in box], mask=masks[idx],
            polygon=shape.outline.round(2).tolist(), spans=span if len(span) > 1 else [],
            reshaped=reshaped))
    caudal = down if not result.reversed else -down
    column.odd_spacing = _odd_spacing(column.levels, kept_ev, result.unit)
    return vertebrae, kept_shapes, kept_ev, caudal


def _mask_box(mask: np.ndarray) -> np.ndarray:
    """XYXY box of a mask's pixels (the outline's box is read on a downsampled crop)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], float)


def _trim_s1(kept: list[int], levels: list[int], kept_ev: list[BodyEvidence],
             kept_shapes: list[Shape], masks: dict[int, np.ndarray | None],
             config: LabellerConfig) -> None:
    """Cut an S1 outline that runs on into the lower sacrum (``sacrum_outline``), in place."""
    names = [EXT_LEVELS[lvl] for lvl in levels]
    if len(kept) < 2 or names[-1] != "S1":
        return
    lumbar = [ev.height / ev.span for name, ev in zip(names, kept_ev, strict=True)
              if name.startswith("L")]
    if not lumbar:
        return
    cranial = kept_shapes[-2].centroid - kept_shapes[-1].centroid
    cut = trim_sacrum(kept_shapes[-1], masks[kept[-1]], cranial, float(np.median(lumbar)),
                      config.s1_max_height, config.s1_kept_height)
    if cut is not None:
        kept_shapes[-1], masks[kept[-1]] = cut


def _assign(candidates: list[Candidate], shapes: list[Shape], alive: list[int],
            image_shape, config: LabellerConfig, image: np.ndarray | None,
            on_metal: frozenset[int] = frozenset(),
            feet: tuple[float, float] | None = None):
    """(bodies in column order, their evidence, the column axis, the level assignment).

    The axis points where the column is most likely caudal: down the image, or toward the
    feet where the file says which way they are (a column across that direction says the tag
    is wrong: it is then ignored)."""
    body_shapes = [shapes[i] for i in alive]
    cents = np.array([s.centroid for s in body_shapes])
    down = column_axis(cents, body_shapes)
    if feet is not None and float(down @ np.asarray(feet, float)) < -0.5:
        down = -down
    ordered = [alive[k] for k in order_along(cents, down)]
    evidence = _evidence([shapes[i] for i in ordered], [candidates[i] for i in ordered],
                         down, config, image, image_shape,
                         np.array([i in on_metal for i in ordered], bool))
    if image_shape is None:
        return ordered, evidence, down, assign_levels(evidence, down, config)
    margin = 0.8 * float(np.median([e.height for e in evidence]))

    def cut(first: int, last: int) -> tuple[bool, bool]:
        return (_near_border(shapes[ordered[first]], -down, image_shape, margin),
                _near_border(shapes[ordered[last]], down, image_shape, margin))

    edges = cut(0, len(ordered) - 1)
    result = assign_levels(evidence, down, config, *edges)
    if result.positions:
        # The film cuts the column only where a body the column keeps meets its edge: a
        # skipped object there (a femoral head, a marker) says nothing about the column.
        kept = cut(min(result.positions), max(result.positions))
        if kept != edges:
            result = assign_levels(evidence, down, config, *kept)
    return ordered, evidence, down, result


def _kinked_end(evidence: list[BodyEvidence], result) -> int | None:
    """Position (into the ordered bodies) of a kept body the column cannot reach: the end
    body, or the one before it when that one is the detour (``_detour_before_end``)."""
    kept = result.positions
    if len(kept) < 4 or result.unit <= 0:
        return None
    for prev, a, b, end in ((kept[-4], kept[-3], kept[-2], kept[-1]),
                            (kept[3], kept[2], kept[1], kept[0])):
        before = evidence[b].centroid - evidence[a].centroid
        step = evidence[end].centroid - evidence[b].centroid
        dist = float(np.linalg.norm(step)) / result.unit
        cos_turn = float(unit(before) @ unit(step))
        for reach, angle in ((KINK_DISTANCE, KINK_ANGLE), (SHARP_KINK_DISTANCE, SHARP_KINK_ANGLE)):
            if dist > reach and cos_turn < np.cos(np.deg2rad(angle)):
                detour = _detour_before_end(evidence, prev, a, b, end, result.unit)
                return b if detour else end
    return None


def _detour_before_end(evidence: list[BodyEvidence], prev: int, a: int, b: int, end: int,
                       spacing: float) -> bool:
    """Whether ``b``, between ``a`` and the end body, is what bends the path: a detection
    beside the column (a ghost over the pelvis, a process beside L5) that the end body only
    seems to turn away from. So when the end follows on from ``a`` directly, within a
    body's reach and turning no more than the sacrum does, more smoothly than ``b`` does, and
    is the likelier body of the two."""
    if evidence[b].vertebra_prob >= evidence[end].vertebra_prob:
        return False
    back = evidence[a].centroid - evidence[prev].centroid
    direct = evidence[end].centroid - evidence[a].centroid
    if float(np.linalg.norm(direct)) / spacing > NEXT_BODY_REACH:
        return False
    cos_direct = float(unit(back) @ unit(direct))
    cos_via_b = float(unit(back) @ unit(evidence[b].centroid - evidence[a].centroid))
    return cos_direct >= np.cos(np.deg2rad(SACRAL_TURN)) and cos_direct > cos_via_b


def _sacral_segment(candidates: list[Candidate], shapes: list[Shape], ordered: list[int],
                    result, image: np.ndarray | None, config: LabellerConfig) -> int | None:
    """The body called S1 when it is a lower sacral segment instead: fused to the body above
    it on the film (no disc space) and found clearly fainter than that body.

    A detector often finds S2 under the sacrum, and its wedge shape reads as S1 more strongly
    than the first segment's box: the whole column then shifts up a level. Fused without a
    disc, the two are one bone, and the confident one is its top. A true S1 under a collapsed
    L5-S1 disc is kept unless it is also far fainter than L5."""
    if image is None or len(result.positions) < 3 or EXT_LEVELS[result.levels[-1]] != "S1":
        return None
    s1, above = ordered[result.positions[-1]], ordered[result.positions[-2]]
    if candidates[above].score - candidates[s1].score < config.fused_segment_score_margin:
        return None
    cranial = shapes[above].centroid - shapes[s1].centroid
    return s1 if fused_to_bone_above(image, shapes[s1], cranial) else None


# Spacing / expected between kept neighbours still called a fit. Measured adjacent spacings
# on real columns stay within 0.8-1.25 x the unit; longer means a body could hide in the gap
# (the count may be off by one there); much shorter happens with listhesis and collapsed
# discs, where bodies overlap, and only an extreme value says something is wrong.
_SPACING_FIT = (0.55, 1.35)


def _odd_spacing(levels: list[str], ev: list[BodyEvidence], spacing: float) -> list[str]:
    """Neighbour pairs whose centroid distance fits neither the levels stepped between them
    (adjacent, or one or more missed bodies) nor anything else: the count could be off there."""
    out = []
    if spacing <= 0:
        return out
    for k in range(len(levels) - 1):
        a, b = EXT_LEVELS.index(levels[k]) + ev[k].span - 1, EXT_LEVELS.index(levels[k + 1])
        steps = max(b - a - (1 if levels[k + 1] == "S1" and a < EXT_LEVELS.index("L6") else 0),
                    1)
        expected = spacing * (steps + (ev[k].span - 1) / 2 + (ev[k + 1].span - 1) / 2)
        dist = float(np.linalg.norm(ev[k + 1].centroid - ev[k].centroid))
        if not _SPACING_FIT[0] <= dist / expected <= _SPACING_FIT[1]:
            out.append(f"{levels[k]}-{levels[k + 1]}")
    return out


def _drop_off_column(alive, rejected, shapes, candidates, config):
    if len(alive) < 4:
        return alive, rejected
    cents = np.array([shapes[i].centroid for i in alive])
    alive_shapes = [shapes[i] for i in alive]
    down = column_axis(cents, alive_shapes)
    normal = np.array([-down[1], down[0]])
    width = float(np.median([shapes[i].extent(normal) for i in alive]))
    near = not_isolated(cents, alive_shapes)
    scores = np.array([candidates[i].score for i in alive])
    off = off_column(cents, down, width, config.off_column_widths, near, scores)
    spared = continues_column(cents, down, off)
    for pos in off:
        if pos not in spared:
            rejected[alive[pos]] = "off_column"
    return [i for i in alive if i not in rejected], rejected


def _outlines_on_metal(alive: list[int], shapes: list[Shape], image: np.ndarray | None,
                       config: LabellerConfig) -> frozenset[int]:
    """Bodies whose outline follows an implant: their taper is not taken for the sacrum's."""
    if image is None or not alive:
        return frozenset()
    shares = outline_on_metal(image, [shapes[i] for i in alive])
    return frozenset(i for i, share in zip(alive, shares, strict=True)
                     if share >= config.outline_on_metal)


def _evidence(shapes: list[Shape], cands: list[Candidate], down: np.ndarray,
              config: LabellerConfig, image: np.ndarray | None = None,
              image_shape: tuple[int, int] | None = None,
              on_metal: np.ndarray | None = None) -> list[BodyEvidence]:
    cents = np.array([s.centroid for s in shapes])
    tans = tangents(cents) if len(shapes) > 1 else [down]
    heights, widths = np.zeros(len(shapes)), np.zeros(len(shapes))
    for k, (s, t) in enumerate(zip(shapes, tans, strict=False)):
        along = _own_axis(s, t)
        if abs(float(along @ t)) < np.cos(np.deg2rad(30)):
            # tilted far from the column (the sacrum): the long side runs across
            along = s.rect_axes[int(np.argmin(s.rect_sides))]
        across = np.array([-along[1], along[0]])
        heights[k], widths[k] = s.extent(along), s.extent(across)
    areas = np.array([s.area for s in shapes])
    s1_down, s1_up = sacrum_llr(shapes, cents)
    if image_shape is not None:
        # A body cut by the film edge has a straight side where the film ends: its taper is
        # the cut's, not the bone's (a cut L5 reads as a sacrum), so its shape says nothing.
        cut = np.array([s.touches_border(image_shape) for s in shapes])
        s1_down, s1_up = np.where(cut, 0.0, s1_down), np.where(cut, 0.0, s1_up)
    if on_metal is None:
        on_metal = np.zeros(len(shapes), bool)
    # A mask stops where an implant covers the bone: its outline then follows the metal, and
    # a screw across a body's lower half bites a lumbar box into a taper that reads as a
    # sacrum. A bite only takes bone away, so a box still reads as a box: only the evidence
    # for S1 goes (an L5 beside a screw must still say "not S1" when the sacrum was missed).
    s1_down = np.where(on_metal, np.minimum(s1_down, 0.0), s1_down)
    s1_up = np.where(on_metal, np.minimum(s1_up, 0.0), s1_up)
    if image is not None and config.image_weight > 0:
        img_down, img_up = image_sacrum_llrs(image, shapes, cents)
        s1_down = s1_down + config.image_weight * img_down
        s1_up = s1_up + config.image_weight * img_up
    spans = np.ones(len(shapes), int)
    if len(shapes) >= 3:
        h_med, a_med = np.median(heights), np.median(areas)
        spans[(heights > config.fused_height_ratio * h_med) & (areas > 1.5 * a_med)] = 2
    out = []
    for k, (shape, cand) in enumerate(zip(shapes, cands, strict=False)):
        probs = cand.class_scores
        if probs is None and cand.class_id is not None:
            probs = np.full(6, 0.3 / 5)
            probs[cand.class_id] = 0.7
        out.append(BodyEvidence(centroid=shape.centroid, height=float(heights[k]),
                                vertebra_prob=0.5 + 0.5 * float(np.clip(cand.score, 0.0, 0.99)),
                                class_probs=probs, s1_llr=float(s1_down[k]),
                                s1_llr_reversed=float(s1_up[k]),
                                span=int(spans[k]), outline_on_metal=bool(on_metal[k])))
    return out


def _own_axis(shape: Shape, direction: np.ndarray) -> np.ndarray:
    axes = shape.rect_axes
    return axes[int(np.argmax(np.abs(axes @ direction)))]


def _endplates_and_facing(shapes: list[Shape], levels: list[str], caudal: np.ndarray,
                          ) -> tuple[dict[str, dict[str, Endplate]], str, float]:
    if not shapes:
        return {}, "left", 0.5
    cents = np.array([s.centroid for s in shapes])
    tans = tangents(cents) if len(shapes) > 1 else np.array([caudal])
    side = np.array([-caudal[1], caudal[0]])
    computed = [endplates(s, t, side) for s, t in zip(shapes, tans, strict=False)]
    width = float(np.median([s.extent(side) for s in shapes]))
    facing, conf = infer_facing([c[0] for c in computed], cents, caudal, side, width)
    anterior_is_side = (facing == "left") == (side[0] < 0)
    plates: dict[str, dict[str, Endplate]] = {}
    for level, (sup, inf, _) in zip(levels, computed, strict=False):
        if not anterior_is_side:
            sup, inf = Endplate(sup.posterior, sup.anterior), Endplate(inf.posterior, inf.anterior)
        plates[level] = {"superior": sup} if level == "S1" else {"superior": sup, "inferior": inf}
    return plates, facing, conf


def _transitional(levels: list[str], shapes: list[Shape], ev: list[BodyEvidence]) -> bool:
    """Six lumbar-type bodies (an L6, or a T12 nearly as large as L1) or an L5 fused to S1."""
    if "L6" in levels:
        return True
    if "T12" in levels and "L1" in levels and "S1" in levels:
        t12, l1 = shapes[levels.index("T12")], shapes[levels.index("L1")]
        if t12.area >= 0.85 * l1.area:
            return True
    if "L5" in levels and "S1" in levels:
        i, j = levels.index("L5"), levels.index("S1")
        gap = np.linalg.norm(ev[j].centroid - ev[i].centroid)
        typical = np.median([e.height for e in ev])
        if gap < 0.55 * typical:
            return True
    return False


# Within this many median body heights of the film's edge, a body meets it (the cut side of a
# detector's mask lies on the edge row, give or take a pixel of rounding).
S1_EDGE_MARGIN = 0.05


def _near_border(shape: Shape, direction: np.ndarray, image_shape, margin: float) -> bool:
    """True when the film ends within ``margin`` px beyond the body, moving along ``direction``."""
    h, w = image_shape
    tip = shape.outline[int(np.argmax(shape.outline @ direction))]
    best = np.inf
    for dim, size in ((0, w), (1, h)):
        comp = float(direction[dim])
        if abs(comp) > 1e-6:
            edge = size - 1 if comp > 0 else 0.0
            best = min(best, (edge - tip[dim]) / comp)
    return bool(best < margin)

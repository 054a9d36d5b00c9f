"""Remove what is not a vertebral body: implants, duplicates, fragments, off-column objects.

Metal is tested first; then duplicates, where a part inside a body loses to the body (so a
screw cannot remove the body it crosses) unless the part scores clearly higher (a confident
body inside a faint blob), then shape and size. A detection rejected for its shape or size
(a rod, a box around the sacrum and pelvis) removes nothing: duplicates are decided again
without it, so the body it contained comes back.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import shapely

from lumbarseg.postprocess.candidates import Candidate
from lumbarseg.postprocess.config import LabellerConfig
from lumbarseg.postprocess.geometry import Shape, rasterize


def filter_candidates(
    candidates: list[Candidate],
    shapes: list[Shape | None],
    image: np.ndarray | None,
    image_shape: tuple[int, int] | None,
    config: LabellerConfig,
) -> tuple[list[int], dict[int, str]]:
    """Indices kept (as plausible vertebral bodies) and {index: reason} for the rest."""
    rejected: dict[int, str] = {}
    alive = []
    for i, (cand, shape) in enumerate(zip(candidates, shapes, strict=False)):
        if shape is None:
            rejected[i] = "empty"
        elif not np.isfinite(cand.score) or cand.score < config.min_score:
            rejected[i] = "low_score"
        else:
            alive.append(i)
    if image is not None and alive:
        for i in _metal(candidates, shapes, alive, image, config):
            rejected[i] = "implant_metal"
        alive = [i for i in alive if i not in rejected]
    overlaps = _Overlaps(shapes, alive)
    # A mask holding two bodies found on their own is a merge of them, not a body.
    for i in _merges(overlaps, shapes, alive, config):
        rejected[i] = "merged_bodies"
    pool = [i for i in alive if i not in rejected]
    while True:
        duplicates = _duplicates(candidates, overlaps, pool, config)
        losers = {i for i, _ in duplicates}
        alive = [i for i in pool if i not in losers]
        not_a_body = _not_one_body(shapes, alive, image_shape, config)
        if not not_a_body:
            break
        rejected.update(not_a_body)
        pool = [i for i in pool if i not in not_a_body]
    for i, j in duplicates:
        rejected[i] = f"duplicate_of_{j}"
    if len(alive) >= 3:
        median = float(np.median([shapes[i].area for i in alive]))
        for i in alive:
            touches = image_shape is not None and shapes[i].touches_border(image_shape)
            if shapes[i].area < config.min_area_ratio * (0.4 if touches else 1.0) * median:
                rejected[i] = "too_small"
        alive = [i for i in alive if i not in rejected]
    return alive, rejected


# Area of one body's mask, relative to the median confident detection (fragments are smaller,
# two bodies in one mask larger).
_BODY_SIZED = (0.6, 1.45)
# Detector score from which a detection's size is trusted as a body's (the median of these).
_CONFIDENT = 0.5
# An outline this many median bodies large is no single body (a sacrum outline runs to about
# 1.6), and one this much larger than a body it contains is a blob drawn around that body.
_BLOB_AREA = 1.7
_BLOB_OVER_BODY = 1.5


def _scored_masks(candidates: list[Candidate]):
    """(masks, areas, confident indices, median confident area) of the detections that carry
    a mask and level class scores, or None with fewer than four confident ones: too few to
    tell a body's size from two bodies'."""
    masks = [c.mask if c.mask is not None and c.class_scores is not None else None
             for c in candidates]
    areas = np.array([float(m.sum()) if m is not None else 0.0 for m in masks])
    sure = [i for i, c in enumerate(candidates) if areas[i] > 0 and c.score >= _CONFIDENT]
    if len(sure) < 4:
        return None
    return masks, areas, sure, float(np.median(areas[sure]))


def split_merged_masks(candidates: list[Candidate], config: LabellerConfig) -> list[Candidate]:
    """Candidates with each two-level mask cut down to the level the detector found only in it.

    A mask over two bodies (L5 and S1 in one outline, often where L5 overlaps the sacrum) wins
    the containment test against the body-sized detection inside it, and the body left out of
    every other mask is lost with it: L5 then takes S1's name and the column shifts. When the
    detector calls the inner body a level above the container's, the container holds that
    lower level too: its leftover, when body-sized and compact, becomes the container's mask.
    A sacrum mask around S1 (both called S1) is left whole: its leftover is the lower sacrum.
    """
    scored = _scored_masks(candidates)
    if scored is None:
        return candidates
    masks, areas, sure, typical = scored
    out = list(candidates)
    for j in sure:
        if areas[j] < config.split_min_area_ratio * typical:
            continue
        # Within the container's box only: masks are film-sized, a few thousand pixels square.
        rows, cols = np.nonzero(masks[j].any(axis=1))[0], np.nonzero(masks[j].any(axis=0))[0]
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        inner = [i for i in sure if i != j
                 and _BODY_SIZED[0] * typical <= areas[i] <= _BODY_SIZED[1] * typical
                 and (masks[i][box] & masks[j][box]).sum()
                 > config.duplicate_containment * areas[i]]
        if not inner:
            continue
        i = max(inner, key=lambda k: candidates[k].score)
        if np.argmax(candidates[i].class_scores) >= np.argmax(candidates[j].class_scores):
            continue
        crop = _leftover(masks[j][box], masks[i][box], float(np.sqrt(typical)))
        if crop is not None and (config.split_min_leftover * typical <= crop.sum()
                                 <= _BODY_SIZED[1] * typical):
            piece = np.zeros_like(masks[j])
            piece[box] = crop
            out[j] = replace(candidates[j], mask=piece, polygon=None, box=None)
    return out


def holds_a_level_above(candidates: list[Candidate], kept: dict[int, str],
                        rejected: dict[int, str], config: LabellerConfig) -> list[str]:
    """Levels of kept bodies whose mask holds a detection much smaller than itself, left out as
    its duplicate, that the detector called a level above theirs.

    Such a mask may hold two levels: an L5 slipped over the sacrum drawn with the top of S1
    in one outline that the detector calls S1, the L5 inside it found on its own but scored
    lower. When the rest of the outline is no body, ``split_merged_masks`` cannot cut it and
    the count cannot see the level it lost: a reader must."""
    scored = _scored_masks(candidates)
    if scored is None:
        return []
    masks, areas, sure, typical = scored
    out = []
    for i, reason in rejected.items():
        holder = int(reason.removeprefix("duplicate_of_")) if reason.startswith(
            "duplicate_of_") else -1
        if (holder not in kept or i not in sure
                or areas[holder] < max(HOLDS_TWO_AREA * typical, HOLDS_TWO_OVER_BODY * areas[i])
                or np.argmax(candidates[i].class_scores)
                >= np.argmax(candidates[holder].class_scores)
                or (masks[i] & masks[holder]).sum() < config.duplicate_containment * areas[i]):
            continue
        if kept[holder] not in out:
            out.append(kept[holder])
    return out


# Area from which a mask holds more than the body inside it: larger than the median confident
# detection and than that body by these factors. One body's size alone varies too much (a
# real L3 1.32 times the median, S1 up to 1.55): the holder of an L5 and the top of S1 read
# 1.31 and 1.7 times the L5 it held; a second detection of one body is about its size.
HOLDS_TWO_AREA = 1.2
HOLDS_TWO_OVER_BODY = 1.4


def _leftover(container: np.ndarray, body: np.ndarray, body_side: float,
              min_solidity: float = 0.8) -> np.ndarray | None:
    """The largest compact piece of ``container`` outside ``body`` (slivers along the body's
    outline opened away), or None when that piece is ragged rather than a body's outline.
    ``body_side`` (px) scales the slivers with the film's resolution."""
    def square(fraction: float) -> np.ndarray:
        size = max(3, int(round(fraction * body_side)) | 1)
        return np.ones((size, size), np.uint8)

    rest = container & ~cv2.dilate(body.astype(np.uint8), square(1 / 16)).astype(bool)
    rest = cv2.morphologyEx(rest.astype(np.uint8), cv2.MORPH_OPEN, square(1 / 10))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(rest)
    if n < 2:
        return None
    piece = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    contours, _ = cv2.findContours(piece.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    hull = cv2.contourArea(cv2.convexHull(max(contours, key=cv2.contourArea)))
    return piece if hull > 0 and piece.sum() / hull >= min_solidity else None


def _not_one_body(shapes, alive, image_shape, config) -> dict[int, str]:
    """{index: reason} for what is too long (implant, or a body cut by the film edge) or too
    large (vs the median body) to be one vertebral body."""
    out = {}
    for i in alive:
        if shapes[i].elongation > config.max_elongation:
            at_edge = image_shape is not None and shapes[i].touches_border(image_shape)
            out[i] = "cut_by_border" if at_edge else "implant_elongated"
    rest = [i for i in alive if i not in out]
    if len(rest) >= 3:
        limit = config.max_area_ratio * float(np.median([shapes[i].area for i in rest]))
        out.update({i: "too_large" for i in rest if shapes[i].area > limit})
    return out


class _Overlaps:
    """Areas of the candidates' outlines and of every overlapping pair, computed once: merges
    and duplicates both read them, and duplicates are decided again after each round of shape
    rejections."""

    def __init__(self, shapes: list[Shape | None], ids: list[int]):
        ids = sorted(ids)
        polys = {i: shapely.make_valid(shapely.Polygon(shapes[i].outline)) for i in ids}
        self.areas = {i: p.area for i, p in polys.items()}
        self.pairs = {(i, j): polys[i].intersection(polys[j]).area
                      for x, i in enumerate(ids) for j in ids[x + 1:]
                      if polys[i].intersects(polys[j])}

    def inter(self, i: int, j: int) -> float:
        return self.pairs.get((i, j) if i < j else (j, i), 0.0)


def _merges(overlaps: _Overlaps, shapes: list[Shape], alive: list[int],
            config) -> dict[int, list[int]]:
    """{container: [bodies]} for masks holding two or more detections that are neither inside
    one another nor duplicates of each other, and lie a body apart. Two pieces of one bone
    (the upper and lower halves of S1, which a detector finds besides the whole sacral body)
    are closer than that: the mask holding them is the body."""
    area, inter = overlaps.areas, overlaps.inter
    body = float(np.median([min(shapes[i].rect_sides) for i in alive])) if alive else 0.0
    out = {}
    for i in alive:
        inside = [j for j in alive if j != i and area[j] < area[i]
                  and inter(i, j) > config.duplicate_containment * area[j]]
        distinct = [j for j in inside
                    if all(inter(j, k) < (1 - config.duplicate_containment) * min(area[j], area[k])
                           for k in inside if k != j)]
        apart = any(np.linalg.norm(shapes[j].centroid - shapes[k].centroid) >= 0.7 * body
                    for x, j in enumerate(distinct) for k in distinct[x + 1:])
        if len(distinct) >= 2 and apart:
            out[i] = distinct
    return out


def metal_level(image: np.ndarray) -> tuple[np.ndarray, float, float, float] | None:
    """(gray image, dark level, bright level, metal level), or None for a blank film. Metal
    saturates the detector: it lies within 6 % of the film's range below its brightest
    pixels (the noise on a saturated implant spans a few percent)."""
    img = np.asarray(image)
    if img.ndim == 3:
        img = img.mean(axis=2)
    sample = img[:: max(1, img.shape[0] // 256), :: max(1, img.shape[1] // 256)]
    lo, hi = np.percentile(sample, [5, 99.9])
    if hi - lo <= 0:
        return None
    return img, float(lo), float(hi), float(hi - 0.06 * (hi - lo))


def _metal(candidates, shapes, alive, image, config) -> list[int]:
    """Candidates mostly made of saturated pixels (metal saturates the detector)."""
    levels = metal_level(image)
    if levels is None:
        return []
    img, lo, hi, level = levels
    fractions, medians = {}, {}
    for i in alive:
        rows, cols, inside = rasterize(shapes[i].outline, shapes[i].box, img.shape[:2])
        pixels = img[rows, cols][inside]
        if pixels.size == 0:
            continue
        fractions[i] = float(np.mean(pixels >= level))
        medians[i] = float(np.median(pixels))
    if not medians:
        return []
    typical = float(np.median(list(medians.values())))
    # Metal is saturated AND brighter than the typical candidate: in a film without metal the
    # bodies themselves are the brightest pixels, and must not all be called metal.
    return [i for i, f in fractions.items()
            if f >= config.metal_fraction and medians[i] > typical + 0.15 * (hi - lo)]


def outline_on_metal(image: np.ndarray, shapes: list[Shape], distance: float = 2.0,
                     samples: int = 64) -> np.ndarray:
    """Per body: share of its outline that lies along metal.

    Metal occludes bone, and a detector's mask stops where the metal starts: such an outline
    follows the implant, not the bone, so its taper says nothing about the body. An outline
    point is on metal when the film is at metal level both just outside it (``distance``)
    and a screw's half-width further out (a tenth of the body's height): a cortical rim or
    an endplate that saturates on a high-contrast film is thinner than that."""
    out = np.zeros(len(shapes))
    levels = metal_level(image)
    if not shapes or levels is None:
        return out
    img, _, _, level = levels
    h, w = img.shape[:2]
    for k, shape in enumerate(shapes):
        polygon = shapely.Polygon(shape.outline)
        near = shapely.line_interpolate_point(polygon.buffer(distance).exterior,
                                              np.linspace(0, 1, samples, endpoint=False),
                                              normalized=True)
        edge = shapely.get_coordinates(shapely.line_interpolate_point(
            polygon.exterior, shapely.line_locate_point(polygon.exterior, near)))
        near = shapely.get_coordinates(near)
        outward = (near - edge) / np.maximum(np.linalg.norm(near - edge, axis=1), 1e-9)[:, None]
        deep = near + 0.1 * float(np.ptp(shape.outline[:, 1])) * outward
        on = np.ones(samples, bool)
        for pts in (near, deep):
            cols = np.clip(np.round(pts[:, 0]).astype(int), 0, w - 1)
            rows = np.clip(np.round(pts[:, 1]).astype(int), 0, h - 1)
            on &= img[rows, cols] >= level
        out[k] = float(np.mean(on))
    return out


def _typical_area(candidates, area: dict[int, float], alive: list[int]) -> float:
    """Median outline area of the confident detections (all of them when fewer than three)."""
    sure = [area[i] for i in alive if candidates[i].score >= _CONFIDENT]
    return float(np.median(sure if len(sure) >= 3 else [area[i] for i in alive]))


def _blob_around_body(small: float, large: float, typical: float) -> bool:
    """A body (not a fragment) inside an outline too large to be a single body and clearly
    larger than it: the larger is a blob drawn around it (S1 with the lower sacrum, or two
    bodies), not the body it is part of."""
    return (small >= _BODY_SIZED[0] * typical and large > _BLOB_AREA * typical
            and large > _BLOB_OVER_BODY * small)


def _two_outlines_of_one_body(small: float, large: float, typical: float) -> bool:
    """A body-sized outline inside one at most ``_BLOB_OVER_BODY`` times its size: the two
    overlap by nearly the IoU that makes a duplicate, so the score decides, as it does there
    (the larger is not the body that a fragment is part of: a ghost box drawn over the pelvis
    beside S1 would otherwise remove S1)."""
    return small >= _BODY_SIZED[0] * typical and large <= _BLOB_OVER_BODY * small


def _duplicates(candidates, overlaps: _Overlaps, alive, config) -> list[tuple[int, int]]:
    """(dropped, kept) pairs: two detections of the same body (IoU: the lower score goes) or a
    part detected inside a body (containment: the smaller goes, unless it scores clearly
    higher: then the larger is a faint blob drawn around a confident body, often the sacrum
    or two bodies, and it goes). A body-sized outline inside one of nearly its size is a
    second outline of the same body, and the score decides as for IoU."""
    if len(alive) < 2:
        return []
    area = overlaps.areas
    typical = _typical_area(candidates, area, alive)
    pairs = []
    for x, i in enumerate(alive):
        for j in alive[x + 1:]:
            inter = overlaps.inter(i, j)
            if inter <= 0:
                continue
            union = area[i] + area[j] - inter
            by_score = (i, j) if candidates[i].score < candidates[j].score else (j, i)
            if union > 0 and inter / union > config.duplicate_iou:
                lose, win = by_score
                pairs.append((inter / union + 1.0, lose, win))
                continue
            small, large = (i, j) if area[i] < area[j] else (j, i)
            containment = inter / max(area[small], 1e-9)
            if containment > config.duplicate_containment:
                if _blob_around_body(area[small], area[large], typical):
                    lose, win = large, small
                elif _two_outlines_of_one_body(area[small], area[large], typical):
                    lose, win = by_score
                else:
                    lose, win = small, large
                if (candidates[lose].score - candidates[win].score
                        >= config.containment_score_margin):
                    lose, win = win, lose
                pairs.append((containment, lose, win))
    out, dropped = [], set()
    for _, lose, win in sorted(pairs, reverse=True):
        if lose not in dropped and win not in dropped:
            dropped.add(lose)
            out.append((lose, win))
    return out

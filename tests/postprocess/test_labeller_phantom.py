"""Labelling and measurements on phantom ground truth with implants (post-op films)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("lumbarseg.phantom.render")
from tests.helpers.phantom_cases import evaluate, evaluate_missing  # noqa: E402  (after the importorskip)


def test_phantom_levels_and_measurements_with_class_scores():
    r = evaluate(8, with_scores=True, seed=3)
    assert r["postop"] >= 1  # implants really were offered as false candidates
    assert r["instances"] == 1.0 and r["images"] == 1.0
    assert len(r["lordosis_abs_err"]) >= 4 and np.median(r["lordosis_abs_err"]) < 2.0
    if len(r["listhesis_abs_err"]):
        assert r["listhesis_abs_err"].max() < 5.0


def test_phantom_levels_from_anatomy_only():
    # Without class scores a column whose S1 looks lumbar (the phantom draws a box) is held by
    # the position priors and the film below it. Where a film shows T12 as well, that is a
    # coin flip between L1..S1 and T12..L5 (posterior ~0.4-0.5): 3 of these 96 films on the
    # machine of 2026-12-06 (a fourth, flagged too, lost its lowest two bodies), and which
    # films flip changes with the last bits of the rendering (two seeds of 12 films passed
    # 97.9 % on one machine and read 91.7 % on another). So the instance bar is over 96 films
    # (95.8 % measured), and no wrong film may go without the low-confidence flag.
    results = [evaluate(12, with_scores=False, seed=seed) for seed in range(8)]
    assert np.mean([r["instances"] for r in results]) >= 0.94
    assert all(r["images"] >= 11 / 12 for r in results), [r["images"] for r in results]
    assert sum(r["silent"] for r in results) == 0


def test_the_film_tells_the_sacrum_from_a_body_above_a_missed_one():
    # Bone continues below S1 without a disc space; below L5 a disc space comes, then bone.
    from lumbarseg.phantom import PhantomConfig, render_phantom
    from lumbarseg.postprocess.geometry import shape_of
    from lumbarseg.postprocess.sacrum_image import MAX_FOR, film_range, image_sacrum_llr
    from tests.helpers.phantom_cases import phantom_candidates

    cfg = PhantomConfig(size=512, difficulty="normal", postop_share=0.5)
    lumbar, sacral, cut = [], [], []
    for seed in range(1, 13):
        ph = render_phantom(seed, cfg)
        cands, expected = phantom_candidates(ph, np.random.default_rng(seed), False)
        shapes = {lv: shape_of(c) for c, lv in zip(cands, expected, strict=True) if lv}
        levels = film_range(ph.pixels)
        for level, above in (("S1", "L5"), ("L5", "L4")):
            down = shapes[level].centroid - shapes[above].centroid
            llr = image_sacrum_llr(ph.pixels, shapes[level], down / np.linalg.norm(down), levels)
            if shapes[level].box[3] >= ph.pixels.shape[0] - 3:  # cut by the film's lower edge
                cut.append(llr)
            else:
                (sacral if level == "S1" else lumbar).append(llr)
    # A lumbar body over a collapsed disc (the phantoms draw disc height loss) reads like S1,
    # which is why "no gap" is capped low; a clear gap is strong evidence against S1.
    assert max(lumbar) <= MAX_FOR
    assert sum(v < -1.0 for v in lumbar) >= 6 and np.mean(lumbar) < -0.5
    # 0 where the film gives no evidence (metal in the disc space, an inverted film), and
    # for a body cut by the film's lower edge: what lies below it is not on the film.
    assert min(sacral) >= 0.0 and sum(v > 0.5 for v in sacral) >= len(sacral) - 1 >= 8
    assert cut and all(v == 0.0 for v in cut)


def test_the_film_keeps_the_count_when_a_body_is_missed():
    # Anatomy only, one body removed: the phantom draws S1 as a box, so geometry alone often
    # reads the column one level off; the film's evidence must help where S1 is missed, never
    # hurt, and nothing is silent. On the styled phantoms (12 films): S1 missed 2 -> 7 right,
    # L1 missed 8 -> 10 (a collapsed disc or metal leaves the film silent; all flagged).
    for drop, gain in (("S1", 3), ("L1", 1)):
        off = evaluate_missing(12, drop, image_weight=0.0)
        on = evaluate_missing(12, drop, image_weight=1.0)
        assert on["images"] >= 10 and on["silent"] == 0 and off["silent"] == 0
        assert on["right"] >= off["right"] + gain, (drop, off, on)
        assert on["right"] >= 0.5 * on["images"], (drop, on)


def test_a_detection_of_s2_fused_to_the_sacrum_does_not_take_its_level():
    # A detector often finds the sacrum's second segment too, scored like S1. S1 has the L5-S1
    # disc above it; S2 has bone above it, without a gap: read on the film, that keeps S1.
    # Without the cue 4 of these 21 films were right.
    from lumbarseg.phantom import PhantomConfig, render_phantom
    from lumbarseg.postprocess import Candidate, label_vertebrae
    from tests.helpers.phantom_cases import phantom_candidates

    def centre(mask):
        return np.argwhere(mask).mean(axis=0)

    cfg = PhantomConfig(size=512, difficulty="normal", postop_share=0.0)
    right = films = 0
    for seed in range(1, 25):
        ph = render_phantom(seed, cfg)
        cands, expected = phantom_candidates(ph, np.random.default_rng(seed), True)
        where = {level: i for i, level in enumerate(expected) if level}
        if "S1" not in where or "L5" not in where:
            continue
        s1, l5 = cands[where["S1"]].mask, cands[where["L5"]].mask
        dy, dx = np.round(0.8 * (centre(s1) - centre(l5))).astype(int)
        s2 = np.roll(np.roll(s1, dy, 0), dx, 1)
        s2[: max(dy, 0)] = False
        if s2.sum() < 0.8 * s1.sum():  # the film ends under S1
            continue
        scored_as_s1 = np.array([0, 0, 0, 0.02, 0.08, 0.9])
        cands.append(Candidate(mask=s2, score=0.7, class_scores=scored_as_s1))
        res = label_vertebrae(cands, image=ph.pixels)
        got = {v.index: v.level for v in res.vertebrae}
        ok = len(cands) - 1 not in got and all(
            got.get(i) == level for i, level in enumerate(expected) if level)
        assert ok or res.flags["low_confidence"], (seed, got)
        right += ok
        films += 1
    assert films >= 18 and right >= 15, (right, films)


def _wedge_below(s1: np.ndarray, l5: np.ndarray, taper: float = 0.45) -> np.ndarray:
    """A mask like a detection of the sacrum's second segment: S1's outline moved 0.8 of a step
    down the column (so it abuts S1), narrowing caudally to ``taper`` of its width."""
    c1, c5 = np.argwhere(s1).mean(axis=0), np.argwhere(l5).mean(axis=0)
    down = (c1 - c5) / np.linalg.norm(c1 - c5)
    dy, dx = np.round(0.8 * (c1 - c5)).astype(int)
    moved = np.roll(np.roll(s1, dy, 0), dx, 1)
    moved[: max(dy, 0)] = False
    yx = np.argwhere(moved)
    offsets = yx - yx.mean(axis=0)
    along, across = offsets @ down, offsets @ np.array([-down[1], down[0]])
    t = (along - along.min()) / max(float(np.ptp(along)), 1.0)
    keep = np.abs(across - np.median(across)) <= 0.5 * np.ptp(across) * (1 - (1 - taper) * t)
    wedge = np.zeros_like(moved)
    wedge[tuple(yx[keep].T)] = True
    return wedge


def _label_styled(seeds, edit, **config):
    """(films, films right, films wrong and unflagged, films where a body went as a sacral
    segment) for anatomy-only candidates of styled phantoms, after ``edit(cands, expected,
    where)`` (False: skip the film)."""
    from lumbarseg.postprocess import LabellerConfig
    from tests.helpers.phantom_cases import film_right, label_edited

    def edit_at_levels(cands, expected, _phantom):
        where = {level: i for i, level in enumerate(expected) if level}
        return "S1" in where and "L5" in where and edit(cands, expected, where)

    films = right = silent = fired = 0
    results = label_edited(seeds, edit_at_levels, LabellerConfig(**config), postop_share=0.0)
    for seed, _, expected, res in results:
        ok = film_right(res.levels, expected)
        films, right = films + 1, right + ok
        silent += not ok and not res.flags["low_confidence"]
        segment = any(r.reason == "sacral_segment" for r in res.rejected)
        # The rule rests on the film's evidence alone: the flags say so, right or wrong.
        assert not segment or any("sacral segment" in r
                                  for r in res.flags["low_confidence_reasons"]), seed
        fired += segment
    return films, right, silent, fired


def test_a_faint_wedge_fused_under_s1_is_a_sacral_segment_not_s1():
    # A class-agnostic detector finds S2 faintly; its wedge shape reads as S1 more strongly than
    # the first segment's box, and the column would shift up a level. On the film it has no
    # disc above it: it is part of S1's bone, and goes. 18 of 21 films right (15 by the rule);
    # without it 3.
    def add_s2(cands, expected, where):
        from lumbarseg.postprocess import Candidate

        s1, l5 = cands[where["S1"]].mask, cands[where["L5"]].mask
        wedge = _wedge_below(s1, l5)
        if wedge.sum() < 0.5 * s1.sum():  # the film ends under S1
            return False
        cands.append(Candidate(mask=wedge, score=0.45))
        expected.append(None)
        return True

    films, right, silent, fired = _label_styled(range(1, 25), add_s2)
    assert films >= 18 and right >= films - 4 and silent == 0, (films, right, silent)
    assert fired >= right - 4
    _, right_without, _, fired_without = _label_styled(
        range(1, 25), add_s2, fused_segment_score_margin=float("inf"))
    assert fired_without == 0 and right >= right_without + 10, (right, right_without)


def test_a_faint_s1_below_a_disc_space_keeps_its_level():
    # The rule must not take a true S1 that the detector found faintly: it has the L5-S1 disc
    # above it. Only a collapsed disc (the phantoms draw disc height loss) can read as fused,
    # and such a film is flagged. The rule fired on 2 of 28 films (24 right, 26 without it).
    from dataclasses import replace

    def faint_s1(cands, expected, where):
        cands[where["S1"]] = replace(cands[where["S1"]], score=0.45)
        cands[where["L5"]] = replace(cands[where["L5"]], score=0.99)
        return True

    films, right, silent, fired = _label_styled(range(1, 31), faint_s1)
    _, right_without, silent_without, _ = _label_styled(
        range(1, 31), faint_s1, fused_segment_score_margin=float("inf"))
    assert films >= 25 and fired <= 2 and right >= right_without - fired, (films, fired)
    assert silent <= silent_without, (silent, silent_without)


def _bitten_by_implants(cands, expected, phantom):
    """A detector's masks stop where metal covers the bone: every body loses what lies under
    (or within 2 px of) an implant. Films without implants are skipped."""
    import cv2

    implants = phantom.truth.get("implants") or []
    if not implants:
        return False
    metal = np.zeros(phantom.pixels.shape[:2], np.uint8)
    for implant in implants:
        outline = np.asarray(implant["polygon"], float).reshape(-1, 2)
        cv2.fillPoly(metal, [np.round(outline).astype(np.int32)], 1)
    metal = cv2.dilate(metal, np.ones((5, 5), np.uint8)).astype(bool)
    for cand, level in zip(cands, expected, strict=True):
        if level is not None and cand.mask is not None:
            cand.mask = cand.mask & ~metal
    return True


def _score_bitten(outline_on_metal: float) -> tuple[int, int, int, int]:
    """(films, right, wrong and unflagged, flagged for an S1 outline on metal) over post-op
    film-style phantoms with bitten masks."""
    from lumbarseg.postprocess import LabellerConfig
    from tests.helpers.phantom_cases import film_right, label_edited

    films = right = silent = on_metal = 0
    config = LabellerConfig(outline_on_metal=outline_on_metal)
    for _, _, expected, res in label_edited(range(500, 560), _bitten_by_implants, config,
                                            postop_share=1.0, styles=("film",)):
        ok = film_right(res.levels, expected)
        films, right = films + 1, right + ok
        silent += not ok and not res.flags["low_confidence"]
        on_metal += any("outline follows an implant" in r
                        for r in res.flags["low_confidence_reasons"])
    return films, right, silent, on_metal


def test_an_outline_that_follows_an_implant_says_nothing_about_the_sacrum():
    # A screw across a body's lower half bites its mask into a taper that reads as S1: the
    # column then shifts up a level. Such an outline follows the metal, not the bone, so its
    # shape is not read. Measured: 41 of 60 films right with the rule (20 flagged for it), 34
    # without (2 of the wrong ones silent).
    films, right, silent, on_metal = _score_bitten(0.05)
    _, right_without, silent_without, on_metal_without = _score_bitten(float("inf"))
    assert films >= 55 and silent == 0 and on_metal >= 5, (films, silent, on_metal)
    assert on_metal_without == 0 and right >= right_without + 4, (right, right_without)

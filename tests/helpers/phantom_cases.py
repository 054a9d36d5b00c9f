"""Phantom ground truth as labeller inputs (post-op films included), and its scoring.

Shared by ``test_labeller_phantom.py`` and ``benchmarks/evaluate_phantom.py``. Candidates are
the true instances (masks with rounded corners, osteophytes, overlaps; bodies cut by the film
edge may stay unlabelled but never take a wrong level) plus every implant polygon and every
visible non-COCO body (T12, extra lumbar) as false candidates; class scores are absent
(anatomy only) or noisy-but-right. Implants must be rejected; extra bodies must not take an
L1..S1 label.
"""

from __future__ import annotations

import time

import numpy as np

from lumbarseg.levels import LEVELS
from lumbarseg.phantom import PhantomConfig, render_phantom
from lumbarseg.phantom.styles import DEFAULT_STYLES
from lumbarseg.postprocess import Candidate, label_vertebrae


def phantom_candidates(ph, rng, with_scores: bool, use_image_polygons: bool = False):
    """(candidates, expected) where expected[i] is a level or None (must not get L1..S1)."""
    cands, expected = [], []
    masks = ph.masks()
    for inst in ph.instances:
        mask = masks[inst["level"]]
        scores = None
        if with_scores:
            scores = rng.dirichlet(np.ones(6)) * 0.2
            scores[LEVELS.index(inst["level"])] += 0.8
        cands.append(Candidate(mask=mask, score=float(rng.uniform(0.8, 1.0)),
                               class_scores=scores))
        expected.append(inst["level"])
    for extra in ph.truth.get("extra_bodies", []) or []:
        polys = extra.get("polygons") or []
        if polys:
            cands.append(Candidate(polygon=polys, score=0.9))
            expected.append(None)
    for imp in ph.truth.get("implants", []) or []:
        cands.append(Candidate(polygon=[imp["polygon"]], score=0.8))
        expected.append(None)
    return cands, expected


def evaluate(n: int, with_scores: bool, size: int = 512, seed: int = 0, use_image: bool = True):
    cfg = PhantomConfig(size=size, difficulty="normal", postop_share=0.5)
    rng = np.random.default_rng(seed)
    right = total = images_ok = silent = 0
    lordosis_err, slip_err, times = [], [], []
    postop = 0
    for k in range(n):
        ph = render_phantom(seed * 1000 + k, cfg)
        postop += bool(ph.truth.get("implants"))
        cands, expected = phantom_candidates(ph, rng, with_scores)
        t0 = time.perf_counter()
        res = label_vertebrae(cands, image=ph.pixels if use_image else None,
                              pixel_spacing_mm=ph.truth.get("pixel_spacing_mm"))
        times.append(time.perf_counter() - t0)
        got = res.levels
        ok = True
        clipped = ph.truth.get("clipped_levels") or {}
        for i, lv in enumerate(expected):
            if lv is None:
                ok &= got.get(i) not in LEVELS
                continue
            if lv in clipped and got.get(i) is None:
                continue  # a body cut by the film edge may go unlabelled, never mislabelled
            total += 1
            right += got.get(i) == lv
            ok &= got.get(i) == lv
        images_ok += ok
        silent += not ok and not res.flags["low_confidence"]
        truth_lordosis = ph.truth.get("lordosis_deg")
        measured = res.measurements.get("lordosis_deg")
        if truth_lordosis is not None and measured is not None:
            lordosis_err.append(measured - truth_lordosis)
        for level, slip in (ph.truth.get("listhesis") or {}).items():
            got_slip = res.measurements.get("listhesis", {}).get(level)
            if got_slip is not None:
                slip_err.append(got_slip["percent"] - slip["percent"])
    return {"instances": right / max(total, 1), "images": images_ok / n, "n": n,
            "silent": silent, "postop": postop, "lordosis_abs_err": np.abs(lordosis_err),
            "listhesis_abs_err": np.abs(slip_err), "ms": 1000 * np.median(times)}


def film_right(got: dict[int, str], expected, clipped=()) -> bool:
    """Every true body at its level (one cut by the film edge, in ``clipped``, may also go
    unlabelled) and no false candidate (expected None) labelled L1..S1."""
    return all(got.get(i) not in LEVELS if lv is None else
               got.get(i) == lv or (lv in clipped and got.get(i) is None)
               for i, lv in enumerate(expected))


def label_edited(seeds, edit, config, postop_share: float = 0.5, size: int = 512,
                 styles: tuple[str, ...] = DEFAULT_STYLES):
    """(seed, phantom, expected, result) per normal-difficulty phantom, anatomy-only candidates
    labelled after ``edit(cands, expected, phantom)`` changed them in place (False: skip the
    film)."""
    cfg = PhantomConfig(size=size, difficulty="normal", postop_share=postop_share,
                        styles=styles)
    for seed in seeds:
        ph = render_phantom(seed, cfg)
        cands, expected = phantom_candidates(ph, np.random.default_rng(seed), False)
        if edit(cands, expected, ph):
            yield seed, ph, expected, label_vertebrae(cands, image=ph.pixels, config=config)


def evaluate_missing(n: int, drop: str | None, image_weight: float, size: int = 512,
                     seed: int = 0) -> dict:
    """Anatomy only, with one true body removed from the candidates (a detector miss): images
    right, images, silent errors (wrong without ``low_confidence``). ``image_weight`` 0 turns
    the film's sacrum evidence off (the metal test still reads the image)."""
    from lumbarseg.postprocess import LabellerConfig

    def remove(cands, expected, _phantom):
        if drop is not None and drop not in expected:
            return False
        keep = [i for i, lv in enumerate(expected) if lv != drop or drop is None]
        cands[:], expected[:] = [cands[i] for i in keep], [expected[i] for i in keep]
        return True

    ok_count = images = silent = 0
    seeds = range(seed * 1000, seed * 1000 + n)
    config = LabellerConfig(image_weight=image_weight)
    for _, ph, expected, res in label_edited(seeds, remove, config, size=size):
        ok = film_right(res.levels, expected, ph.truth.get("clipped_levels") or {})
        ok_count += ok
        images += 1
        silent += not ok and not res.flags["low_confidence"]
    return {"right": ok_count, "images": images, "silent": silent}

"""Is this body the sacrum (S1)? Geometric evidence, as a log-likelihood ratio per body.

Why these cues hold on lateral films, whatever the detector:

* **Caudal taper.** Lumbar bodies are boxes: their width (anterior to posterior) is the same
  at the top and the bottom of the body, within a few percent, even when wedged or slipped.
  The S1 segment is the top of a wedge-shaped bone: under its wide superior endplate the
  anterior surface runs back toward the posterior wall, so the caudal half is clearly
  narrower. This is the strongest shape cue and it does not depend on the body's size.
* **Relative to the column.** A detector (or an annotator) may draw every body a little
  trapezoidal; the sacrum still tapers *more than the other bodies of the same image*.
  Comparing with the image's own median removes such a bias.
* **A box is weak evidence against S1.** Many masks (and annotation protocols) stop S1 at
  its first segment, and a detector rounds the little taper that segment has: such an outline
  is a box, like L5. Flatness does not separate them either: on real BUU-LSPINE columns the
  lowest L5 (lordotic, often elderly) projects as flat as a first sacral segment in 12 of 60
  cases. So the evidence *against* S1 is bounded (``MAX_AGAINST``, about 4.5 to 1), while a
  clear taper counts fully *for* S1; where the shape says "box", the column's priors (a film
  is centred low), the spacing and, where the image is known, the film (``sacrum_image``:
  disc gap below or bone continuing) decide, and an S1 taken by position is flagged.

Position cues (nothing lies below the sacrum; a lumbar film is centred low, so its bottom is
nearly always the sacrum while its top varies) live in the assignment's priors, and class
scores, where a detector gives them, are combined there as well. The ratio computed here is
the evidence for "S1" against "a lumbar body", in natural log units, clipped so that one
badly drawn mask cannot decide alone.
"""

from __future__ import annotations

import numpy as np

from lumbarseg.postprocess.endplates import body_frame
from lumbarseg.postprocess.geometry import Shape, unit

_SLICES = 18  # over 15-85 % of the height; each direction reads 15 of them
# Share of the height where widths are read: clear of rounded corners, and stopping before a
# wedged L5's short posterior wall ends (its slanted inferior endplate would mimic a taper).
_SLICE_RANGE = (0.15, 0.75)
# Caudal/cranial width above which a body reads as a lumbar box: measured on real BUU bodies
# lumbar bodies at the column's end stay >= 0.93, sacral outlines <= 0.9 (99 %).
TAPER_LUMBAR = 0.915
TAPER_SCALE = 0.02  # ratio units per nat
RELATIVE_MARGIN = 0.06  # the sacrum tapers at least this much more than the column's median
# The column's reference taper is capped at 1: lumbar bodies are boxes, so neighbours that
# read as widening caudally (wedges, osteophytes, a stray outline) are noise, and must not
# make a box at the end of the column look tapered by comparison.
RELATIVE_REFERENCE_MAX = 1.0
MAX_LLR = 4.0
MAX_AGAINST = 1.5  # a box-shaped end body is at most e**1.5 (4.5:1) against S1 (see above)


def _fit_ratio(fractions: np.ndarray, widths: np.ndarray, caudal: float, cranial: float,
               ) -> float:
    """Width at height fraction ``caudal`` over width at ``cranial``, from a least-squares
    line through the slice widths."""
    ok = np.isfinite(widths)
    if ok.sum() < 3:
        return 1.0
    x, y = fractions[ok], widths[ok]
    xm, ym = float(x.mean()), float(y.mean())
    slope = float(((x - xm) * (y - ym)).sum() / max(float(((x - xm) ** 2).sum()), 1e-12))
    return (ym + slope * (caudal - xm)) / max(ym + slope * (cranial - xm), 1e-6)


def tapers(shape: Shape, caudal: np.ndarray) -> tuple[float, float]:
    """(taper with ``caudal`` as given, taper with it reversed) of one body.

    Taper is the fitted width at 3/4 of the body's height over the width at 1/4 (counted
    from the cranial end), in the body's own frame (the side of its minimum-area rectangle
    closest to ``caudal``). Widths are read exactly where slices cross the outline, and a line
    through them averages out the wobble of detector masks. Both directions come from one
    set of slices.
    """
    u = body_frame(shape, caudal)
    v = np.array([-u[1], u[0]])
    along, across = shape.outline @ u, shape.outline @ v
    lo, hi = float(along.min()), float(along.max())
    height = max(hi - lo, 1e-6)
    first, last = _SLICE_RANGE
    fractions = np.linspace(first, 1.0 - first, _SLICES)
    levels = lo + fractions * height
    a0, a1 = along, np.concatenate([along[1:], along[:1]])
    b0, b1 = across, np.concatenate([across[1:], across[:1]])
    crosses = (np.minimum(a0, a1)[None] <= levels[:, None]) & (
        np.maximum(a0, a1)[None] > levels[:, None])
    t = (levels[:, None] - a0[None]) / np.where(a1 == a0, 1e-9, a1 - a0)[None]
    at = b0[None] + t * (b1 - b0)[None]
    widths = (np.where(crosses, at, -np.inf).max(axis=1)
              - np.where(crosses, at, np.inf).min(axis=1))
    down = fractions <= last + 1e-9
    up = fractions >= 1.0 - last - 1e-9
    return (_fit_ratio(fractions[down], widths[down], 0.75, 0.25),
            _fit_ratio(fractions[up], widths[up], 0.25, 0.75))


def _median_without_each(values: np.ndarray) -> np.ndarray:
    """For each k, the median of ``values`` without element k."""
    n = len(values)
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    out = np.empty(n)
    for pos, k in enumerate(order):
        rest = np.concatenate([ranked[:pos], ranked[pos + 1:]])
        m = len(rest)
        out[k] = rest[m // 2] if m % 2 else 0.5 * (rest[m // 2 - 1] + rest[m // 2])
    return out


def sacrum_llr(shapes: list[Shape], centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(LLR that each body is S1 with the caudal end down the list, with it up the list).

    The caudal direction of each body is its incoming direction along the ordered chain
    (for the first body, the direction to the next).
    """
    n = len(shapes)
    down, up = np.ones(n), np.ones(n)
    for k in range(n):
        if n == 1:
            direction = np.array([0.0, 1.0])
        else:
            direction = centroids[k] - centroids[k - 1] if k else centroids[1] - centroids[0]
        down[k], up[k] = tapers(shapes[k], unit(direction))
    if n > 1:  # the last body's caudal direction, reversed, is toward the one before it
        direction = centroids[-2] - centroids[-1]
        up[-1] = tapers(shapes[-1], unit(direction))[0]
    out = []
    for values in (down, up):
        llr = np.clip((TAPER_LUMBAR - values) / TAPER_SCALE, -MAX_LLR, MAX_LLR)
        if n >= 3:
            reference = np.minimum(_median_without_each(values), RELATIVE_REFERENCE_MAX)
            relative = (reference - values - RELATIVE_MARGIN) / TAPER_SCALE
            llr = 0.5 * llr + 0.5 * np.clip(relative, -MAX_LLR, MAX_LLR)
        out.append(np.maximum(llr, -MAX_AGAINST))
    return out[0], out[1]

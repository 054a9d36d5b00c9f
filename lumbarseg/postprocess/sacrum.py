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
* **A flat top segment.** Many masks (and annotation protocols) stop S1 at its first
  segment: a short, flat block, flatter and a little narrower than the L5 above it. That
  outline need not taper, so flatness is an alternative cue (the stronger of the two counts),
  read relative to the neighbours because elderly lumbar bodies can be flat in absolute terms.

Position cues (nothing lies below the sacrum; a lumbar film is centred low, so its bottom is
nearly always the sacrum while its top varies) live in the assignment's priors, and class
scores, where a detector gives them, are combined there as well. The ratio computed here is
the evidence for "S1" against "a lumbar body", in natural log units, clipped so that one
badly drawn mask cannot decide alone.
"""

from __future__ import annotations

import numpy as np

from lumbarseg.postprocess.endplates import body_frame
from lumbarseg.postprocess.geometry import Shape

_SLICES = 15
# Share of the height where widths are read: clear of rounded corners, and stopping before a
# wedged L5's short posterior wall ends (its slanted inferior endplate would mimic a taper).
_SLICE_RANGE = (0.15, 0.75)
# Caudal/cranial width above which a body reads as a lumbar box: measured on real BUU bodies
# lumbar bodies at the column's end stay >= 0.93, sacral outlines <= 0.9 (99 %).
TAPER_LUMBAR = 0.915
TAPER_SCALE = 0.02  # ratio units per nat
RELATIVE_MARGIN = 0.06  # the sacrum tapers at least this much more than the column's median
MAX_LLR = 4.0
FLAT_MAX_LLR = 1.73  # flatness alone is weaker evidence (p 0.15..0.85, as before)


def taper(shape: Shape, caudal: np.ndarray) -> float:
    """Fitted width at 3/4 of the body's height over the width at 1/4, in the body's own frame
    (the side of its minimum-area rectangle closest to ``caudal``).

    Widths are read exactly where slices cross the outline, at many heights between 15 % and
    85 % (away from rounded corners and endplate tilt), and a line through them gives the
    two widths: the fit averages out the wobble of detector masks.
    """
    u = body_frame(shape, caudal)
    v = np.array([-u[1], u[0]])
    along, across = shape.outline @ u, shape.outline @ v
    lo, hi = float(along.min()), float(along.max())
    height = max(hi - lo, 1e-6)
    fractions = np.linspace(_SLICE_RANGE[0], _SLICE_RANGE[1], _SLICES)
    levels = lo + fractions * height
    a0, a1 = along, np.roll(along, -1)
    b0, b1 = across, np.roll(across, -1)
    crosses = (np.minimum(a0, a1)[None] <= levels[:, None]) & (
        np.maximum(a0, a1)[None] > levels[:, None])
    t = (levels[:, None] - a0[None]) / np.where(a1 == a0, 1e-9, a1 - a0)[None]
    at = b0[None] + t * (b1 - b0)[None]
    widths = (np.where(crosses, at, -np.inf).max(axis=1)
              - np.where(crosses, at, np.inf).min(axis=1))
    ok = np.isfinite(widths)
    if ok.sum() < 3:
        return 1.0
    slope, icpt = np.polyfit(fractions[ok], widths[ok], 1)
    return float((icpt + 0.75 * slope) / max(icpt + 0.25 * slope, 1e-6))


def flatness_llr(aspects: np.ndarray, widths: np.ndarray, k: int) -> float:
    """Evidence that body k is a flat first sacral segment: flatter (height/width) than its
    inner neighbour and the column's median, and a little narrower than that neighbour."""
    n = len(aspects)
    logit = -(aspects[k] - 0.66) / 0.05
    if n > 1:
        inner = k - 1 if k == n - 1 or (k > 0 and aspects[k - 1] < aspects[k + 1]) else k + 1
        others = float(np.median(np.delete(aspects, k)))
        logit += (-(aspects[k] / aspects[inner] - 0.9) / 0.1
                  - (aspects[k] / others - 0.9) / 0.1
                  - (widths[k] / widths[inner] - 0.96) / 0.04)
    return float(np.clip(0.5 * logit, -MAX_LLR, FLAT_MAX_LLR))


def sacrum_llr(shapes: list[Shape], centroids: np.ndarray, heights: np.ndarray,
               widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(LLR that each body is S1 with the caudal end down the list, with it up the list).

    The caudal direction of each body is its incoming direction along the ordered chain;
    ``heights``/``widths`` are each body's extents along and across the column.
    """
    n = len(shapes)
    aspects = heights / np.maximum(widths, 1e-6)
    flat = np.array([flatness_llr(aspects, widths, k) for k in range(n)])
    out = []
    for sign in (1, -1):
        tapers = np.ones(n)
        for k in range(n):
            prev, nxt = (k - sign, k) if 0 <= k - sign < n else (k, k + sign)
            if not 0 <= nxt < n or prev == nxt:
                direction = np.array([0.0, float(sign)])
            else:
                direction = centroids[nxt] - centroids[prev]
            tapers[k] = taper(shapes[k], direction / max(np.linalg.norm(direction), 1e-9))
        absolute = (TAPER_LUMBAR - tapers) / TAPER_SCALE
        llr = np.clip(absolute, -MAX_LLR, MAX_LLR)
        if n >= 3:
            others = np.array([np.median(np.delete(tapers, k)) for k in range(n)])
            relative = (others - tapers - RELATIVE_MARGIN) / TAPER_SCALE
            llr = 0.5 * llr + 0.5 * np.clip(relative, -MAX_LLR, MAX_LLR)
        out.append(np.maximum(llr, flat))
    return out[0], out[1]

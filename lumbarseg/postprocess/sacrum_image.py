"""Is this body the sacrum? Evidence from the film itself, below the body's caudal edge.

Why it holds: every lumbar body sits on a disc, and a disc is radiolucent, so on a lateral
film the intensity profile running caudally out of a lumbar body drops into a dark band (the
disc space) and rises again into the next body. S1 is the top of a fused bone: under it the
S2..S5 segments continue without a disc space (at most a faint line), so the profile stays at
bone level. A body whose profile shows a disc gap followed by bone is therefore not the last
bone of the column: if it is the lowest body found, a body below it was missed (its S1 most
likely). Where nothing bright lies below (soft tissue, the film edge) the cue says nothing.

The profile is read along the body's own caudal axis through its central half (clear of the
cortical corners and of the posterior elements), normalised by the film's own range, so the
cue does not depend on exposure. It costs a few hundred interpolated samples per body.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import map_coordinates

from lumbarseg.postprocess.endplates import body_frame
from lumbarseg.postprocess.geometry import Shape, unit

# Profile positions, in body heights from the caudal edge (negative: inside the body).
_T = np.linspace(-0.4, 0.8, 25)
_ACROSS = np.linspace(-0.25, 0.25, 5)  # in body widths: the central half
_INSIDE = _T <= -0.15  # the body's own bone
_GAP = (_T >= -0.2) & (_T <= 0.4)  # where the disc space lies (mask edges may be off a little)
_BELOW = _T >= 0.45  # the next bone, if any
BONE_BELOW = 0.6  # below/body intensity above which bone continues below
GAP_SURE = 0.2  # gap depth (share of the body's level) that reads as a disc space
GAP_SCALE = 0.05  # gap-depth units per nat
# No gap is weaker evidence than a clear disc gap: a disc can collapse (degenerative discs,
# L5-S1 the commonest), and then a lumbar body reads like S1 (the styled phantoms draw disc
# height loss); nothing but a disc makes a gap. A cap of 1 instead of 2 was tried: it cost
# right images on phantoms and on a trained model's outputs and gained none.
MAX_FOR, MAX_AGAINST = 2.0, 3.0
# Fused-above evidence (nats) at which a body is part of the bone above it: a gap under 15 %
# of the body's level (the cue turns to "disc" at 20 %). On trained models' outputs 0.5 to
# 1.0 decide the same; 1.5 missed S2 under S1 where the two masks overlap and the profile
# starts inside S1; near the cap (2.0) the faint joint line between sacral segments is
# enough to miss the fusion.
FUSED_SURE = 1.0
SATURATED = 0.02  # within 2 % of the film's range below its maximum: metal (or saturation)
METAL_SHARE = 0.2  # share of the disc-space samples at that level that says "metal there"


def film_range(image: np.ndarray) -> tuple[float, float, float, float]:
    """(dark, median, bright, saturated) levels of the film: 1st, 50th and 99th percentile and
    maximum of a coarse (64 x 64) subsample. Only ratios of levels above ``dark`` are used, so
    coarse is enough; metal saturates the detector over large areas, so the grid finds it."""
    img = np.asarray(image)
    step = max(1, min(img.shape[:2]) // 64)
    sub = img[::step, ::step].astype(float)
    lo, mid, hi = np.percentile(sub, [1, 50, 99])
    return float(lo), float(mid), float(max(hi, lo + 1e-6)), float(sub.max())


def image_sacrum_llr(image: np.ndarray, shape: Shape, caudal: np.ndarray,
                     levels: tuple[float, float, float, float]) -> float:
    """Evidence (nats) that ``shape`` is S1 when ``caudal`` points toward the feet: positive
    when bone continues below it without a disc gap, negative for a disc gap then bone.
    No evidence where metal fills the disc space (a cage, a screw hides the gap), or where the
    body is not brighter than the film's median (an inverted film, or not bone)."""
    u = body_frame(shape, caudal)
    v = np.array([-u[1], u[0]])
    along, across = shape.outline @ u, shape.outline @ v
    height = float(along.max() - along.min())
    width = float(across.max() - across.min())
    if height < 4 or width < 4:
        return 0.0
    base = shape.centroid + (float(along.max()) - float(shape.centroid @ u)) * u
    pts = (base[None, None] + (_T[:, None, None] * height) * u
           + (_ACROSS[None, :, None] * width) * v)
    h, w = image.shape[:2]
    # Samples beyond the film's edge are not read (clamping would repeat the edge row as if
    # bone continued): a body cut by the edge, or one that ends at it, gives no evidence.
    on_film = ((pts[..., 0] >= 0) & (pts[..., 0] <= w - 1)
               & (pts[..., 1] >= 0) & (pts[..., 1] <= h - 1))
    vals = _sample(image, pts[..., 0].ravel(), pts[..., 1].ravel()).reshape(len(_T), -1)
    lo, mid, hi, top = levels
    gap_vals = vals[_GAP][on_film[_GAP]]
    if gap_vals.size and np.mean(gap_vals >= top - SATURATED * (top - lo)) > METAL_SHARE:
        return 0.0
    rows = on_film.any(axis=1)
    if not (rows[_INSIDE].any() and rows[_BELOW].any() and rows[_GAP].all()):
        return 0.0
    normalised = np.where(on_film, (vals - lo) / (hi - lo), np.nan)
    profile = np.array([np.median(row[np.isfinite(row)]) if ok else np.nan
                        for row, ok in zip(normalised, rows, strict=True)])
    body = float(np.median(profile[_INSIDE & rows]))
    if body <= (mid - lo) / (hi - lo):
        return 0.0
    below = float(np.median(profile[_BELOW & rows]))
    if below < BONE_BELOW * body:
        return 0.0  # nothing bone-bright below (soft tissue, film edge): no evidence
    gap = (min(body, below) - float(profile[_GAP].min())) / body
    return float(np.clip((GAP_SURE - gap) / GAP_SCALE, -MAX_AGAINST, MAX_FOR))


def _gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    return image[..., 0] if image.ndim == 3 else image


def _sample(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples at (x, y), reading only the crop that holds them (a film is large)."""
    h, w = image.shape[:2]
    x0 = int(np.clip(np.floor(x.min()) - 1, 0, w - 1))
    x1 = int(np.clip(np.ceil(x.max()) + 2, x0 + 1, w))
    y0 = int(np.clip(np.floor(y.min()) - 1, 0, h - 1))
    y1 = int(np.clip(np.ceil(y.max()) + 2, y0 + 1, h))
    crop = np.asarray(image[y0:y1, x0:x1], dtype=np.float32)
    return map_coordinates(crop, [y - y0, x - x0], order=1, mode="nearest")


def image_sacrum_llrs(image: np.ndarray, shapes: list[Shape], centroids: np.ndarray,
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Per body: (evidence with the caudal end down the list, with it up the list).

    Each body's caudal direction is toward its next body along the list (the last body
    continues the direction from the one before it); reversed, toward the previous one. Only
    the two bodies at the caudal end are read in each direction (S1 ends the column; one
    stray object below it at most), which keeps the cost to four short profiles per image.
    """
    n = len(shapes)
    down, up = np.zeros(n), np.zeros(n)
    if n < 2:
        return down, up
    image = _gray(image)
    levels = film_range(image)
    for k in sorted({n - 2, n - 1}):
        d = centroids[k + 1] - centroids[k] if k < n - 1 else centroids[k] - centroids[k - 1]
        down[k] = image_sacrum_llr(image, shapes[k], unit(d), levels)
        if k > 0:
            down[k] -= _fused_above(image, shapes[k], centroids[k - 1] - centroids[k], levels)
    for k in sorted({0, 1}):
        d = centroids[k - 1] - centroids[k] if k else centroids[0] - centroids[1]
        up[k] = image_sacrum_llr(image, shapes[k], unit(d), levels)
        if k < n - 1:
            up[k] -= _fused_above(image, shapes[k], centroids[k + 1] - centroids[k], levels)
    return down, up


def fused_to_bone_above(image: np.ndarray, shape: Shape, cranial: np.ndarray) -> bool:
    """True when the film shows no disc space between ``shape`` and the bone toward
    ``cranial``: it is part of that bone (a lower sacral segment under S1), not a body of its
    own."""
    image = _gray(image)
    return _fused_above(image, shape, cranial, film_range(image)) >= FUSED_SURE


def _fused_above(image: np.ndarray, shape: Shape, cranial: np.ndarray,
                 levels: tuple[float, float, float, float]) -> float:
    """Evidence (nats, >= 0) that the body is fused to the bone above it, read the same way
    toward the body before it: S1 has the L5-S1 disc above it, a lower sacral segment (S2,
    which a detector often finds under the sacrum and scores like S1) has none."""
    return max(image_sacrum_llr(image, shape, unit(cranial), levels), 0.0)

"""Which side the patient faces, from the column itself.

Two anatomical cues that hold in almost every lumbar spine: endplates fan open anteriorly
(lordosis: the anterior end of L1's superior endplate is cranial of S1's), and the chain of
body centres is convex anteriorly. A weak prior for image-left (the radiographic habit and
the BUU-LSPINE convention) only decides a column too short for either cue.
"""

from __future__ import annotations

import math

import numpy as np

from lumbarseg.postprocess.endplates import Endplate


def _rise(plate: Endplate, down: np.ndarray, side: np.ndarray) -> float:
    d = plate.anterior - plate.posterior
    return math.degrees(math.atan2(-float(d @ down), float(d @ side)))


def infer_facing(superiors: list[Endplate], centroids: np.ndarray, down: np.ndarray,
                 side: np.ndarray, width: float, prior_left: float = 0.3,
                 ) -> tuple[str, float]:
    """('left'|'right', confidence); endplates' 'anterior' ends must lie toward ``side``."""
    score = 0.0
    if len(superiors) >= 2:
        # Fanning measured as the Theil-Sen trend of every superior endplate's rise, not
        # just the first and last: a body cut by the film edge has an unreliable endplate,
        # and one such endplate must not flip the whole column's orientation.
        rises = np.array([_rise(p, down, side) for p in superiors])
        i, j = np.triu_indices(len(rises), k=1)
        slope = float(np.median((rises[j] - rises[i]) / (j - i)))
        score += -slope * (len(rises) - 1) / 8.0
    if len(centroids) >= 3:
        rel = centroids - centroids[0]
        s, t = rel @ down, rel @ side
        coef = np.polyfit(s, t, 2)
        half = (s.max() - s.min()) / 2
        score += -4.0 * coef[0] * half * half / max(width, 1e-6)
    side_is_left = side[0] < 0
    score += prior_left if side_is_left else -prior_left
    confidence = 1.0 / (1.0 + math.exp(-abs(score)))
    anterior_is_side = score > 0
    facing_left = anterior_is_side == side_is_left
    return ("left" if facing_left else "right"), confidence

"""S1's outline ends where the first sacral segment does.

Below S1's superior endplate the sacrum goes on as one bone (S2..S5, at most a faint line
between segments), so a detector cannot see where S1 stops, and its mask often runs on into
S2: up to twice the body's height, which costs the mask its overlap with S1 (on a trained
model's outputs, about half of the S1 masks lost at IoU 0.3-0.5 were such overruns). The
first sacral segment is about as tall as the lumbar bodies above it, in phantoms and in real
anatomy alike, so an S1 outline much taller than them is cut parallel to its superior
endplate, at a lumbar body's height below that endplate. The endplate itself, the only S1
edge that measurements read, is left as it is.
"""

from __future__ import annotations

import numpy as np
import shapely

from lumbarseg.postprocess.candidates import Candidate
from lumbarseg.postprocess.endplates import body_frame
from lumbarseg.postprocess.geometry import Shape, shape_of


def trim_sacrum(shape: Shape, mask: np.ndarray | None, cranial: np.ndarray,
                lumbar_height: float, max_height: float, kept_height: float,
                ) -> tuple[Shape, np.ndarray | None] | None:
    """(cut outline, cut mask) of an S1 outline taller than ``max_height`` lumbar bodies, cut
    to ``kept_height`` of them, or None when it is not (or nothing would be left).
    ``cranial`` points from S1 toward L5.

    On three trained models' outputs (nine sets of 540 films) limits from 1.3 / 1.1 to
    1.5 / 1.2 recognise the same, from 53 to 234 outlines cut per model: the defaults
    (``LabellerConfig``) cut only clear overruns."""
    if lumbar_height <= 0 or max_height <= 0:
        return None
    down = body_frame(shape, -np.asarray(cranial, float))
    along = shape.outline @ down
    top = float(along.min())
    if float(along.max()) - top <= max_height * lumbar_height:
        return None
    cut = top + kept_height * lumbar_height
    if mask is not None:
        rows, cols = np.nonzero(mask)
        below = (cols + 0.5) * down[0] + (rows + 0.5) * down[1] > cut  # pixel centres
        kept = mask.copy()
        kept[rows[below], cols[below]] = False
        trimmed = shape_of(Candidate(mask=kept)) if kept.any() else None
        return (trimmed, kept) if trimmed is not None else None
    across = np.array([-down[1], down[0]])
    reach = float(np.ptp(shape.outline @ across)) + float(np.ptp(along))
    centre = shape.centroid
    # the half-plane before the cut, as a rectangle far wider and longer than the outline
    side = centre - ((centre @ down) - cut) * down
    half = shapely.Polygon([side + reach * across, side - reach * across,
                            side - reach * across - 2 * reach * down,
                            side + reach * across - 2 * reach * down])
    piece = shapely.Polygon(shape.outline).buffer(0).intersection(half)
    if piece.is_empty or piece.area < 1.0:
        return None
    parts = [np.asarray(g.exterior.coords)[:-1] for g in getattr(piece, "geoms", [piece])
             if g.geom_type == "Polygon"]
    trimmed = shape_of(Candidate(polygon=parts))  # the largest part, as for any polygon
    return (trimmed, None) if trimmed is not None else None

"""Acquisition artefacts on the display image: grid lines, collimation, stitching, bit depth.

Applied after rendering, in place, for every style family. None of them moves anatomy, so
the masks stay exact; collimation never covers ``keep`` (the annotated bodies' pixel box
x0, y0, x1, y1), so no annotated body disappears under a blade.
"""

from __future__ import annotations

import cv2
import numpy as np


def apply_artefacts(display: np.ndarray, draws: dict,
                    keep: tuple[float, float, float, float]) -> None:
    """Modify ``display`` (float32 HxW in [0, 1]) in place."""
    h, w = display.shape
    grid = draws.get("grid")
    if grid:
        axis = np.arange(w if grid["vertical"] else h, dtype=np.float32)
        wave = grid["amplitude"] * np.sin(2 * np.pi * axis / grid["period_px"])
        display += wave[None, :] if grid["vertical"] else wave[:, None]
    stitch = draws.get("stitch")
    if stitch:
        row = int(stitch["row"] * h)
        display[row:] += stitch["step"]
        display[row:row + max(h // 300, 1)] += stitch["line"]
    coll = draws.get("collimation")
    if coll:
        blade = np.zeros((h, w), np.float32)
        pad = 4 + int(3 * coll["soft_px"])  # the blurred blade edge stays off the column
        left = min(int(coll["left"] * w), max(int(keep[0]) - pad, 0))
        right = max(w - int(coll["right"] * w), min(int(np.ceil(keep[2])) + pad, w))
        blade[:, :left] = 1.0
        blade[:, right:] = 1.0
        blade[: max(min(int(coll["top"] * h), int(keep[1]) - pad), 0)] = 1.0
        if coll["soft_px"] > 0.6:
            blade = cv2.GaussianBlur(blade, (0, 0), coll["soft_px"])
        display[...] = display * (1 - blade) + coll["value"] * blade
    np.clip(display, 0.0, 1.0, out=display)
    levels = draws.get("levels")
    if levels:
        display[...] = np.round(display * (levels - 1)) / (levels - 1)


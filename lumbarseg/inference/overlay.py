"""Overlay PNGs: the radiograph with each vertebra's mask in its level colour, its level name,
and the image's raised flags, for a reader to check the labels at a glance."""

from __future__ import annotations

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from lumbarseg.levels import EXTRA_LEVELS, LEVEL_COLORS, LEVELS

_EXTRA_COLOR = (200, 200, 200)
# Gray of the canvas an overlay is drawn on instead of the radiograph (source unreachable, or
# pixels with burned-in text kept out of shareable images).
BLANK_GRAY = 40


def shareable_background(gray: np.ndarray) -> np.ndarray:
    """A blank canvas of the radiograph's size: the masks, labels and flags drawn on it show
    the result without the pixels (DICOM BurnedInAnnotation YES: names, ids, dates in them)."""
    return np.full(np.asarray(gray).shape[:2], BLANK_GRAY, np.uint8)


def _bgr(level: str) -> tuple[int, int, int]:
    if level in LEVELS:
        r, g, b = LEVEL_COLORS[LEVELS.index(level)]
        return (b, g, r)
    return _EXTRA_COLOR if level in EXTRA_LEVELS else (255, 255, 255)


def draw_overlay(gray: np.ndarray, record: dict, flags: list[str], alpha: float = 0.35) -> bytes:
    """PNG bytes of the overlay (8-bit BGR, same size as the radiograph)."""
    canvas = cv2.cvtColor(np.asarray(gray, dtype=np.uint8), cv2.COLOR_GRAY2BGR)
    height, width = gray.shape[:2]
    scale = max(0.8, max(height, width) / 800.0)  # legible on small images too
    thickness = max(1, round(2 * scale))
    for v in record["vertebrae"]:
        mask = mask_utils.decode(v["segmentation"]).astype(bool)
        color = np.array(_bgr(v["level"]), dtype=np.float32)
        canvas[mask] = (canvas[mask] * (1 - alpha) + color * alpha).astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(canvas, contours, -1, _bgr(v["level"]), thickness)
    for v in record["vertebrae"]:  # labels on top of every mask
        x, y, w, h = v["bbox"]
        text = f"{v['level']} {v['level_confidence']:.2f}"
        org = (int(x + w + 4 * scale), int(y + h / 2))
        cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (0, 0, 0),
                    thickness + 2, cv2.LINE_AA)
        cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, _bgr(v["level"]),
                    thickness, cv2.LINE_AA)
    for row, text in enumerate(flags):
        org = (int(6 * scale), int((20 + 18 * row) * scale))
        cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (0, 0, 0),
                    thickness + 2, cv2.LINE_AA)
        cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (0, 220, 255),
                    thickness, cv2.LINE_AA)
    ok, data = cv2.imencode(".png", canvas)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return data.tobytes()

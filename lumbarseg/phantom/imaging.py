"""X-ray-ish rendering: attenuation maps -> detector intensity -> processed display image.

Line integrals are approximated by adding per-shape attenuation (soft-tissue envelope with a
tapered thickness, bone with a denser cortical rim and trabecular texture, metal, bowel gas),
then I = heel * exp(-mu) gets scatter haze, focal blur and quantum noise; the log image gets
CR-style unsharp masking, metal blooming, a display curve and burned-in markers. Everything is
vectorised OpenCV/numpy; shapes are drawn anti-aliased into small patches only.
"""

from __future__ import annotations

import cv2
import numpy as np

from lumbarseg.phantom.anatomy import Anatomy
from lumbarseg.phantom.params import PhantomParams
from lumbarseg.phantom.scene import View

SHIFT = 3  # sub-pixel bits for cv2 drawing
FONT = cv2.FONT_HERSHEY_SIMPLEX
LUT_SIZE = (1 << 16) - 1  # display curve steps, as fine as 16 stored bits


def _patch(pts: np.ndarray, shape: tuple[int, int], pad: int):
    """Integer bbox (clipped) and the polygon in fixed-point patch coordinates, or None."""
    h, w = shape
    x0 = max(int(np.floor(pts[:, 0].min())) - pad, 0)
    y0 = max(int(np.floor(pts[:, 1].min())) - pad, 0)
    x1 = min(int(np.ceil(pts[:, 0].max())) + pad, w)
    y1 = min(int(np.ceil(pts[:, 1].max())) + pad, h)
    if x1 <= x0 or y1 <= y0:
        return None
    # cv2 puts integer coordinates at pixel centres; COCO puts pixel centres at +0.5.
    fixed = np.round((pts - [x0 + 0.5, y0 + 0.5]) * (1 << SHIFT)).astype(np.int32)
    return x0, y0, x1, y1, fixed


def fill_polygon(canvas: np.ndarray, pts: np.ndarray, value: float,
                 rim_canvas: np.ndarray | None = None, rim_value: float = 0.0,
                 rim_px: float = 0.0) -> None:
    """Add ``value`` inside the polygon (anti-aliased) and ``rim_value`` on an inner rim."""
    found = _patch(pts, canvas.shape, 2)
    if found is None:
        return
    x0, y0, x1, y1, fixed = found
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [fixed], 255, cv2.LINE_AA, SHIFT)
    m = mask.astype(np.float32) * (1.0 / 255.0)
    canvas[y0:y1, x0:x1] += value * m
    if rim_canvas is not None and rim_value:
        r = max(int(round(rim_px)), 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        inner = cv2.erode(mask, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        rim = m - inner.astype(np.float32) * (1.0 / 255.0)
        rim_canvas[y0:y1, x0:x1] += rim_value * min(rim_px, 1.0) * rim


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], factor: int,
                  sigma: float) -> np.ndarray:
    """Band-limited noise: white noise on a coarse grid, blurred, resized up (cheap)."""
    h, w = shape
    small = rng.standard_normal((max(h // factor, 2), max(w // factor, 2))).astype(np.float32)
    small = cv2.GaussianBlur(small, (0, 0), sigma)
    small /= small.std() + 1e-6
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _blur_large(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur with a large sigma, done on a 1/4 grid for speed."""
    h, w = image.shape
    small = cv2.resize(image, (max(w // 4, 1), max(h // 4, 1)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(sigma_px / 4, 0.5))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def render(params: PhantomParams, anatomy: Anatomy, view: View,
           rng: np.random.Generator) -> np.ndarray:
    """Display image (float32 HxW in [0, 1], higher = brighter = more attenuating)."""
    h, w = view.height, view.width
    sp = view.spacing_mm
    im = params.imaging
    fill = np.zeros((h, w), np.float32)
    rim = np.zeros((h, w), np.float32)
    metal = np.zeros((h, w), np.float32)
    gas = np.zeros((h, w), np.float32)
    for shape in anatomy.shapes:
        pts = view.to_px(shape.poly)
        if shape.layer == "metal":
            fill_polygon(metal, pts, shape.mu, metal, shape.rim, shape.rim_mm / sp)
        elif shape.layer == "gas":
            fill_polygon(gas, pts, shape.mu)
        else:
            fill_polygon(fill, pts, shape.mu, rim, shape.rim, shape.rim_mm / sp)

    # Soft tissue: envelope thickness tapering over ~25 mm towards the skin.
    small = (max(w // 4, 1), max(h // 4, 1))
    env = np.zeros((small[1], small[0]), np.uint8)
    e = view.to_px(anatomy.envelope) / 4.0
    cv2.fillPoly(env, [np.round((e - 0.5) * (1 << SHIFT)).astype(np.int32)], 255, cv2.LINE_AA,
                 SHIFT)
    env = cv2.GaussianBlur(env.astype(np.float32) / 255.0, (0, 0), 25.0 / sp / 4)
    env = cv2.resize(env, (w, h), interpolation=cv2.INTER_LINEAR)
    lumpy = _smooth_noise(rng, (h, w), 16, 2.0)
    soft = im["soft_mu"] * np.sqrt(np.clip(env, 0, 1)) * (1.0 + 0.04 * lumpy)
    gas = _blur_large(gas, 1.5 / sp) * env

    texture = _smooth_noise(rng, (h, w), 2, 0.6) * 0.6 + _smooth_noise(rng, (h, w), 8, 1.0) * 0.4
    bone = im["bone_mu"] * fill * (1.0 + im["texture"] * texture) + im["cortex_mu"] * rim
    mu = soft + bone + gas + metal

    yy = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    heel = 1.0 + im["heel"] * (yy if im["heel_axis"] == 0 else xx)
    intensity = heel * np.exp(-mu)
    intensity = intensity + im["scatter"] * _blur_large(intensity, 40.0 / sp)
    blur_px = im["blur_mm"] / sp
    if blur_px > 0.3:
        intensity = cv2.GaussianBlur(intensity, (0, 0), blur_px)
    quanta = im["photons"] * (sp / 0.2) ** 2
    noise = rng.standard_normal((h, w), dtype=np.float32)
    intensity = intensity + np.sqrt(np.maximum(intensity, 0) / quanta) * noise
    density = -np.log(np.maximum(intensity, 1.0 / quanta))

    is_metal = (metal > 0.5).astype(np.float32)
    if is_metal.any():
        density += im["bloom"] * _blur_large(is_metal, 1.5 / sp) * 3.0
    density = density + im["unsharp"] * (density - _blur_large(density, 8.0 / sp))

    sample = density[::4, ::4]
    non_metal = sample[is_metal[::4, ::4] < 0.5]
    lo = float(np.percentile(non_metal, 0.5))
    hi = float(np.percentile(non_metal, 99.7))
    hi += 0.12 * (hi - lo)
    shift = im.get("exposure", 0.0) * (hi - lo)  # a mis-set window: too dark or burnt out
    lo, hi = lo + shift, hi + shift
    levels = np.clip((density - lo) * (LUT_SIZE / (hi - lo)), 0, LUT_SIZE).astype(np.int32)
    curve = np.linspace(0.0, 1.0, LUT_SIZE + 1, dtype=np.float32) ** np.float32(im["gamma"])
    display = curve[levels]
    display[is_metal > 0] = np.maximum(display[is_metal > 0], 0.995)
    burn_markers(display, params, rng)
    return display.astype(np.float32)


def burn_markers(display: np.ndarray, params: PhantomParams, rng: np.random.Generator) -> None:
    """Lead side marker (saturated) and faint burned-in text, like real films."""
    h, w = display.shape
    scale = h / 700.0
    mask = np.zeros((h, w), np.uint8)
    letter = "L" if rng.random() < 0.7 else "R"
    corner = params.imaging["marker_corner"]
    size = max(int(34 * scale), 8)
    x = int(0.06 * w) if corner in (0, 3) else int(0.94 * w) - size
    y = int(0.06 * h) + size if corner in (0, 1) else int(0.94 * h)
    cv2.rectangle(mask, (x - 4, y - size - 4), (x + size + 4, y + 6), 255, max(int(2 * scale), 1))
    cv2.putText(mask, letter, (x, y), FONT, 1.1 * scale, 255, max(int(3 * scale), 1), cv2.LINE_AA)
    display[...] = np.maximum(display, mask.astype(np.float32) / 255.0)
    lines = ["LAT", "STANDING", "PHANTOM", "L-SPINE"]
    text = np.zeros((h, w), np.uint8)
    for i in range(params.imaging["text_lines"]):
        word = lines[int(rng.integers(0, len(lines)))]
        tx = int(0.04 * w) if corner in (1, 2) else int(0.62 * w)
        ty = int(0.96 * h) - i * int(28 * scale) if corner in (0, 1) else int(0.08 * h) + i * int(
            28 * scale)
        cv2.putText(text, word, (tx, ty), FONT, 0.8 * scale, 255, max(int(2 * scale), 1),
                    cv2.LINE_AA)
    display[...] = np.maximum(display, text.astype(np.float32) / 255.0 * 0.85)

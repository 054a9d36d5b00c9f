"""A second, deliberately different renderer: flat bodies with simple shading.

No attenuation physics, no trabecular texture, no unsharp masking: every bone is a uniform
grey with an optional thin rim, lit by one linear gradient, on a flat soft-tissue silhouette
with Gaussian noise. It stands in for "someone else's simulator" so that an out-of-style test
(``tools/out_of_style.py``) can measure whether a model learnt spines or one renderer.
"""

from __future__ import annotations

import cv2
import numpy as np

from lumbarseg.phantom.anatomy import Anatomy
from lumbarseg.phantom.imaging import SHIFT, fill_polygon
from lumbarseg.phantom.params import PhantomParams
from lumbarseg.phantom.scene import View


def render_flat(params: PhantomParams, anatomy: Anatomy, view: View,
                rng: np.random.Generator) -> np.ndarray:
    """Display image (float32 HxW in [0, 1], bone bright) in the flat style."""
    h, w = view.height, view.width
    f = params.imaging["flat"]
    bone = np.zeros((h, w), np.float32)
    rim = np.zeros((h, w), np.float32)
    metal = np.zeros((h, w), np.float32)
    gas = np.zeros((h, w), np.float32)
    for shape in anatomy.shapes:
        pts = view.to_px(shape.poly)
        if shape.layer == "metal":
            fill_polygon(metal, pts, 1.0)
        elif shape.layer == "gas":
            fill_polygon(gas, pts, 1.0)
        else:
            # Strong shapes (bodies, sacrum) at full grey, faint ones (ribs, pelvis) dimmer.
            fill_polygon(bone, pts, min(shape.mu, 1.0), rim, 1.0, 1.2)
    env = np.zeros((h, w), np.uint8)
    e = view.to_px(anatomy.envelope)
    cv2.fillPoly(env, [np.round((e - 0.5) * (1 << SHIFT)).astype(np.int32)], 255, cv2.LINE_AA,
                 SHIFT)
    soft = env.astype(np.float32) / 255.0
    yy = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    a = f["shade_angle"]
    light = 1.0 + f["shade"] * (np.cos(a) * xx + np.sin(a) * yy) / 2
    bone = np.minimum(bone, 1.0)
    display = (f["background"] + (f["soft"] - f["background"]) * soft
               - 0.15 * np.minimum(gas, 1.0) * soft)
    display = display * (1 - bone) + (f["bone"] * light) * bone + f["rim"] * np.minimum(rim, 1)
    display = np.maximum(display, np.minimum(metal, 1.0))
    if f["blur_px"] > 0.3:
        display = cv2.GaussianBlur(display, (0, 0), f["blur_px"])
    if f["noise"] > 0:
        display = display + f["noise"] * rng.standard_normal((h, w), dtype=np.float32)
    return np.clip(display, 0.0, 1.0).astype(np.float32)

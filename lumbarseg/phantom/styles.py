"""Imaging-style families: how one spine looks on different systems, drawn per image.

A model trained on one renderer learns the renderer, not the spine. Each family is a set of
ranges for the physics-ish renderer (``imaging.render``) or, for ``flat``, a different
renderer altogether (``flat.render_flat``: uniform bodies with simple shading, like a
textbook drawing or another group's simulator). ``tools/out_of_style.py`` holds one family
out of training to measure how far a model generalises beyond the looks it saw.

Artefacts common to all families (grid lines, collimation, stitching seams, coarse bit depth,
exposure errors) are drawn in ``sample_imaging`` and applied in ``artefacts.py``.
"""

from __future__ import annotations

import numpy as np

# name -> ranges (lo, hi) of the imaging draws; multipliers are applied to the difficulty's.
STYLE_FAMILIES: dict[str, dict[str, tuple[float, float]]] = {
    # Computed radiography: moderate unsharp masking, visible trabecular texture.
    "cr": {"unsharp": (0.3, 1.2), "texture": (0.08, 0.2), "gamma": (0.8, 1.25),
           "photons_x": (1.0, 1.0), "blur_x": (1.0, 1.0), "cortex_mu": (0.25, 0.45),
           "scatter_add": (0.0, 0.0), "bone_mu": (0.45, 0.75)},
    # Flat-panel DR with strong edge enhancement: crisp rims, little noise, flat soft tissue.
    "dr": {"unsharp": (1.5, 3.0), "texture": (0.05, 0.15), "gamma": (0.65, 1.0),
           "photons_x": (2.0, 4.0), "blur_x": (0.5, 0.8), "cortex_mu": (0.3, 0.6),
           "scatter_add": (0.0, 0.1), "bone_mu": (0.4, 0.7)},
    # Digitised screen film: no processing, heavy scatter and blur, grain, thin cortex.
    "film": {"unsharp": (0.0, 0.25), "texture": (0.02, 0.12), "gamma": (1.0, 1.7),
             "photons_x": (0.3, 0.8), "blur_x": (1.5, 3.0), "cortex_mu": (0.05, 0.25),
             "scatter_add": (0.3, 0.8), "bone_mu": (0.3, 0.6)},
    # Another renderer: flat bodies, simple shading (``flat.render_flat``); held out by default.
    "flat": {},
}
DEFAULT_STYLES = tuple(STYLE_FAMILIES)
HELD_OUT_DEFAULT = "flat"


def _u(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(*lo_hi))


def sample_imaging(rng: np.random.Generator, preset, styles: tuple[str, ...]) -> dict:
    """All imaging draws of one image: family, its ranges, exposure and artefacts."""
    style = str(styles[int(rng.integers(0, len(styles)))])
    ranges = STYLE_FAMILIES[style] or STYLE_FAMILIES["cr"]
    im = {
        "style": style,
        "photons": float(rng.uniform(*preset.photons)) * _u(rng, ranges["photons_x"]),
        "scatter": float(rng.uniform(*preset.scatter)) + _u(rng, ranges["scatter_add"]),
        "blur_mm": float(rng.uniform(*preset.blur_mm)) * _u(rng, ranges["blur_x"]),
        "heel": float(rng.uniform(0.05, 0.25) * rng.choice([-1.0, 1.0])),
        "heel_axis": int(rng.integers(0, 2)),
        "unsharp": _u(rng, ranges["unsharp"]),
        "gamma": _u(rng, ranges["gamma"]),
        "soft_mu": float(rng.uniform(1.2, 2.2)),
        "bone_mu": _u(rng, ranges["bone_mu"]),
        "cortex_mu": _u(rng, ranges["cortex_mu"]),
        "texture": _u(rng, ranges["texture"]),
        "bloom": float(rng.uniform(0.2, 0.6)),
        "marker_corner": int(rng.integers(0, 4)),
        "text_lines": int(rng.integers(0, 3)),
        # Display window error: negative = under-exposed/too dark, positive = burnt out.
        "exposure": float(rng.uniform(-0.3, 0.3)) if rng.random() < 0.5 else 0.0,
        "flat": _sample_flat(rng) if style == "flat" else None,
        "artefacts": _sample_artefacts(rng),
    }
    return im


def _sample_flat(rng: np.random.Generator) -> dict:
    return {
        "background": float(rng.uniform(0.0, 0.25)),
        "soft": float(rng.uniform(0.2, 0.45)),
        "bone": float(rng.uniform(0.6, 0.9)),
        "rim": float(rng.uniform(0.0, 0.15)),
        "shade": float(rng.uniform(0.0, 0.35)),
        "shade_angle": float(rng.uniform(0, 2 * np.pi)),
        "noise": float(rng.uniform(0.0, 0.04)),
        "blur_px": float(rng.uniform(0.0, 1.5)),
    }


def _sample_artefacts(rng: np.random.Generator) -> dict:
    """Independent artefact draws, each on a share of images."""
    grid = rng.random() < 0.2
    collimate = rng.random() < 0.35
    stitch = rng.random() < 0.1
    bits = rng.random() < 0.15
    return {
        "grid": {"period_px": float(rng.uniform(2.2, 5.0)), "amplitude": float(
            rng.uniform(0.01, 0.05)), "vertical": bool(rng.random() < 0.7)} if grid else None,
        "collimation": {"left": float(rng.uniform(0.0, 0.15)),
                        "right": float(rng.uniform(0.0, 0.15)),
                        "top": float(rng.uniform(0.0, 0.06)),
                        "value": float(rng.choice([rng.uniform(0.0, 0.12),
                                                   rng.uniform(0.75, 1.0)])),
                        "soft_px": float(rng.uniform(0.5, 4.0))} if collimate else None,
        "stitch": {"row": float(rng.uniform(0.3, 0.7)), "step": float(rng.uniform(-0.08, 0.08)),
                   "line": float(rng.uniform(-0.3, 0.3))} if stitch else None,
        "levels": int(rng.integers(24, 128)) if bits else None,
    }

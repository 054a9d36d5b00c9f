"""One phantom in memory: draws -> anatomy -> implants -> view -> truth -> pixels."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lumbarseg.phantom.anatomy import build_anatomy
from lumbarseg.phantom.artefacts import apply_artefacts
from lumbarseg.phantom.config import PhantomConfig
from lumbarseg.phantom.flat import render_flat
from lumbarseg.phantom.imaging import SHIFT, burn_markers, render
from lumbarseg.phantom.implants import add_implants
from lumbarseg.phantom.params import PhantomParams, sample_params
from lumbarseg.phantom.scene import annotate, choose_view


@dataclass
class PhantomImage:
    """A rendered phantom: display pixels, COCO-ready instances and the truth record."""

    pixels: np.ndarray  # float32 HxW in [0, 1]; higher = brighter (bone, metal white)
    instances: list[dict]  # {"level", "polygons" [[x, y, ...]], "corners", "area", "bbox"}
    truth: dict
    params: PhantomParams

    @property
    def pixel_spacing_mm(self) -> float:
        return float(self.truth["pixel_spacing_mm"][0])

    def to_uint(self, bits: int) -> np.ndarray:
        """Pixels quantised to ``bits`` (uint16; higher = brighter, MONOCHROME2 sense)."""
        return np.round(self.pixels * ((1 << bits) - 1)).astype(np.uint16)

    def masks(self) -> dict[str, np.ndarray]:
        """Boolean mask per annotated level, rasterised from the instance polygons."""
        h, w = self.pixels.shape
        out = {}
        for inst in self.instances:
            mask = np.zeros((h, w), np.uint8)
            polys = [np.round((np.reshape(p, (-1, 2)) - 0.5) * (1 << SHIFT)).astype(np.int32)
                     for p in inst["polygons"]]
            cv2.fillPoly(mask, polys, 1, cv2.LINE_8, SHIFT)
            out[inst["level"]] = mask.astype(bool)
        return out


def render_phantom(seed_or_rng: int | np.random.Generator | np.random.SeedSequence,
                   params: PhantomParams | PhantomConfig | None = None) -> PhantomImage:
    """Render one phantom. ``params`` may be fixed draws, a request (draws are made from the
    generator), or None (default request)."""
    rng = (seed_or_rng if isinstance(seed_or_rng, np.random.Generator)
           else np.random.default_rng(seed_or_rng))
    if params is None or isinstance(params, PhantomConfig):
        params = sample_params(rng, params or PhantomConfig())
    anatomy = build_anatomy(params, rng)
    implants = add_implants(params, anatomy)
    view = choose_view(params, anatomy)
    instances, truth = annotate(params, anatomy, view, implants)
    truth["style"] = params.imaging.get("style", "cr")
    if params.imaging.get("style") == "flat":
        pixels = render_flat(params, anatomy, view, rng)
        burn_markers(pixels, params, rng)
    else:
        pixels = render(params, anatomy, view, rng)
    apply_artefacts(pixels, params.imaging.get("artefacts") or {}, _keep_box(instances, view))
    return PhantomImage(pixels=pixels, instances=instances, truth=truth, params=params)


def _keep_box(instances: list[dict], view) -> tuple[float, float, float, float]:
    """Pixel box of all annotated bodies (artefacts that hide anatomy stay outside it)."""
    if not instances:
        return (0.0, 0.0, float(view.width), float(view.height))
    x0 = min(i["bbox"][0] for i in instances)
    y0 = min(i["bbox"][1] for i in instances)
    x1 = max(i["bbox"][0] + i["bbox"][2] for i in instances)
    y1 = max(i["bbox"][1] + i["bbox"][3] for i in instances)
    return (x0, y0, x1, y1)

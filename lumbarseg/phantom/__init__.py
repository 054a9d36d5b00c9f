"""Synthetic lateral lumbar radiographs with exact ground truth: the toolkit's bundled data.

No public lateral lumbar X-rays with vertebra masks can be downloaded here, so the demo, the
tests and the benchmarks run on phantoms whose truth comes from the generator's own geometry.

API
---
``render_phantom(seed_or_rng, params=None) -> PhantomImage``
    One image in memory. ``params`` is a ``PhantomConfig`` request (draws are made from the
    seed), fixed ``PhantomParams`` (from ``sample_params``), or None (default request).
    ``PhantomImage.pixels`` is float32 HxW in [0, 1], higher = brighter (bone and metal
    white); ``.instances`` are dicts {"level", "polygons", "corners", "area", "bbox"};
    ``.truth`` is the ``lumbarseg_truth`` dict below; ``.masks()`` rasterises the polygons.
``generate_dataset(out_dir, n, seed, size=512, difficulty="normal", postop_share=0.3,
workers=1, preview=False) -> Path``
    Writes ``out_dir/dicom/<patient>/st<k>/im<index>.dcm`` and ``out_dir/annotations.json``
    (and ``preview.png``); same seed -> byte-identical files, for any ``workers``.
``sample_params(rng, config, patient=None)`` draws without rendering (for distribution tests).

Imaging styles (``styles.py``): every image draws one family from ``PhantomConfig.styles`` -
"cr", "dr", "film" (ranges of the X-ray renderer: processing, noise, blur, scatter, texture)
or "flat" (a second renderer, ``flat.py``: uniform bodies, simple shading) - plus exposure
errors and artefacts (grid lines, collimation that never covers the column, stitching seams,
coarse bit depth). The column spans ``PhantomConfig.column_fraction`` of the film height
(zoom), thoracic bodies T9-T12 with ribs show above L1 when the film reaches them (not
annotated). ``params.imaging["style"]`` records the family.

Dataset format (``annotations.json``, COCO instances)
------------------------------------------------------
categories = ``lumbarseg.levels.COCO_CATEGORIES`` (1..6 = L1..L5, S1). Image entries:
``{id, file_name ("dicom/..." relative to the folder), height, width, patient_id,
lumbarseg_truth}``. Annotations: ``{id, image_id, category_id, segmentation (polygons,
several when the field of view splits one), area (polygon area, px^2), bbox [x, y, w, h],
iscrowd 0, corners}``. ``corners`` = superior-anterior, superior-posterior,
inferior-posterior, inferior-anterior of the body quadrilateral (S1: its superior endplate
anterior and posterior corner, then the two lower corners of the drawn S1 segment); corners are
the unclipped geometry and may lie outside the image when the body is cut. Polygons include
osteophyte beaks merged into the body outline. Pixel coordinates follow COCO: pixel (r, c)
covers [c, c+1] x [r, r+1].

``lumbarseg_truth`` (angles in degrees, lengths in mm unless named _px):
- ``facing``: "left" | "right", the side the patient's front faces.
- ``transitional``: null | "lumbarised_S1" | "sacralised_L5".
- ``listhesis``: {slipping level: {percent, grade, on, direction, overlap, overlap_area_px}};
  percent = displacement of the slipping body's posterior-inferior corner along the lower
  body's superior endplate, in % of that endplate's length (negative = retrolisthesis);
  grade = Meyerding 1-5 by |percent|; overlap = the two masks intersect. Masks of one image
  overlap only at these levels.
- ``implants``: [{type: screw|rod|cage|plate, polygon [x, y, ...] px, level or levels,
  visible_fraction, material (cages: titanium|peek)}]; ``postop``; ``fused_levels``.
- ``lordosis_deg``: angle between the L1 and S1 superior endplate lines (corner to corner),
  positive = lordosis. ``sacral_slope_deg`` is in the patient frame (before image rotation);
  ``rotation_deg`` is the in-plane rotation of the film.
- ``style``: the imaging-style family of the image.
- ``pixel_spacing_mm`` [row, col] (the value written to PixelSpacing/ImagerPixelSpacing).
- ``fov_cut`` {top, bottom}; ``levels_present`` (annotated levels); ``dropped_levels``
  {level: visible fraction} for bodies cut below ``scene.MIN_VISIBLE_FRACTION`` (not
  annotated); ``clipped_levels`` {level: visible fraction} for annotated but cut bodies.
- ``extra_bodies``: visible non-COCO bodies: "T12" and, for a lumbarised S1, the
  "extra_lumbar" body above L1 (polygons, corners, visible_fraction).
- ``vertebrae`` {L1..L5: anterior/posterior height, fracture_anterior_loss};
  ``discs`` {"L4-L5": anterior/posterior height (signed, negative = overlap), angle_deg,
  height_loss}; ``osteophytes`` [{level, corner, size_mm}]; ``dicom`` (modality,
  photometric, bits_stored, compressed, transfer_syntax).

Transitional anatomy is labelled by counting from the sacrum upwards (as TotalSegmentator
does): S1 is always the top of the fused sacrum, the mobile bodies above it are L5, L4, ... .
A lumbarised S1 therefore appears as six lumbar-type bodies; the lowest five are L5..L1 and the
sixth (top) one is not a COCO instance but listed in ``extra_bodies`` as "extra_lumbar". A
sacralised L5 (short, with a rudimentary disc and a bony bar to the sacrum) keeps label L5.
"""

from lumbarseg.phantom.config import DIFFICULTIES, PhantomConfig
from lumbarseg.phantom.generate import generate_dataset
from lumbarseg.phantom.params import PhantomParams, sample_params, sample_patient
from lumbarseg.phantom.render import PhantomImage, render_phantom

__all__ = [
    "DIFFICULTIES",
    "PhantomConfig",
    "PhantomImage",
    "PhantomParams",
    "generate_dataset",
    "render_phantom",
    "sample_params",
    "sample_patient",
]

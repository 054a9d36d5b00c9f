"""Batch inference on folders of DICOM/PNG radiographs, with COCO export.

``lumbarseg infer --config CFG --weights W --input DIR... --out OUT`` (or
``run_inference(InferenceOptions(...))``) writes this folder; other tools (DICOM SEG
export, HTML report, evaluation) read it, so the layout is a contract:

``OUT/predictions.json``
    COCO results list: ``{image_id, category_id (1..6 = L1..S1), segmentation (RLE, counts
    a str), bbox (XYWH), score, detection_score, level_confidence}``; ``score`` = detector
    score x level confidence (ranks COCO AP), ``detection_score`` the detector's alone
    (what ``lumbarseg evaluate`` thresholds).
    ``COCO("OUT/images.json").loadRes("OUT/predictions.json")`` works.
``OUT/images.json``
    COCO dataset dict: ``images`` = ``{id, file_name, height, width, image_key}`` for every
    image processed successfully (``file_name`` is the image key; with ``--keep-paths`` the
    path relative to the common parent of the inputs), and ``categories`` =
    ``lumbarseg.levels.COCO_CATEGORIES``. Image ids are 1-based positions in the sorted list
    of discovered inputs (stable across resumes and shards).
``OUT/per_image/<image_key>.json``
    ``{version, image_key, image_id, height, width, pixel_spacing_mm (row, col or null),
    pixel_spacing_source (which spacing the *_mm values use, ``io.dicom._spacing``; null
    without one), model (fingerprint of config incl. LUMBARSEG.LABELLER, weights, labeller
    and lumbarseg version), source {format, photometric, voi, burned_in_annotation (only when
    the DICOM says YES)}, vertebrae: [{level, category_id (null for T11/T12/L6), score,
    level_confidence, bbox (XYWH), segmentation (RLE), spans}], rejected: [{reason, score,
    bbox}], flags, measurements}`` (+ ``relative_path`` only with ``--keep-paths``, ``phi``
    only with ``--keep-phi``; ``writers.ImageRecord``). Written atomically as each image
    finishes; its presence means the image is done. Holds exactly the images of images.json.
``OUT/summary.csv``
    One row per discovered image: image_key, image_id, status (ok | failed | skipped),
    reason, height, width, n_vertebrae, levels_found, missing_levels, flags, lordosis_deg,
    sacral_slope_deg, listhesis, pixel_spacing_source (+ relative_path after image_id with
    ``--keep-paths``, + the identifiers of ``lumbarseg.io.dicom.PHI_KEYWORDS`` with
    ``--keep-phi``).
``OUT/run.json``
    Run summary: config, opts, weights, model, labeller, device, counts, elapsed_s,
    images_per_s, ``failures`` and ``skipped`` lists of ``{key, reason}`` (``{key, path,
    reason}`` and ``input_root`` only with ``--keep-paths``).
``OUT/overlays/<image_key>.png``
    With ``--overlays``: masks in ``LEVEL_COLORS``, level names and raised flags; images
    marked BurnedInAnnotation YES on a blank canvas unless ``--show-burned-in``.
``OUT/shards/``
    Bookkeeping of each shard/rank (failures and skips in the run.json shape, timings) used
    for merging and resuming.
``OUT/private/linkage.csv``
    The one file that names the inputs: image_key, image_id, status, relative_path,
    source_path (absolute) for every discovered file; owner-only. Not for sharing; export-seg
    and the report find the source images through it. ``OUT/private/image_secret.txt``: the
    random secret of the image keys (owner-only), made on the first run into OUT.

``lumbarseg.inference.writers.OutputFolder`` writes and reads this layout; other tools go
through it.

``image_key`` is a 16-hex-digit HMAC of the relative path under the run's random secret
(``OUT/private/image_secret.txt``, or ``--image-secret-file``): nothing read from the DICOM
(no patient name, id or UID) reaches any output unless ``--keep-phi`` is given, and no path
outside ``private/`` unless ``--keep-paths`` is given. Every file is written atomically.
Exit status: 0 when every image was processed or skipped (non-image
objects), 1 when any file failed; one bad file never stops the run.
"""

from __future__ import annotations

from typing import Any

__all__ = ["InferenceOptions", "run_inference"]


def __getattr__(name: str) -> Any:
    """Lazy: readers of the output folder (``writers``) need no torch or Detectron2."""
    if name in __all__:
        from lumbarseg.inference import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

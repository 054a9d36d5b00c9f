"""Offline evaluation of saved COCO results against a COCO ground-truth file.

Reads both files into the per-image structures and runs them through the same
``LumbarSegAccumulator`` as ``LumbarSegEvaluator``. Prediction category ids refer to the
ground-truth file's categories (the COCO results convention), matched to levels by name.
"""

from __future__ import annotations

import os
from collections import OrderedDict, defaultdict
from pathlib import Path

from lumbarseg.errors import InputFileError, LumbarsegError, one_line
from lumbarseg.evaluation.accumulator import EvaluationSettings, LumbarSegAccumulator
from lumbarseg.evaluation.structures import (
    ImageGroundTruth,
    ground_truth_from_annotations,
    level_index_map,
    pixel_spacing_of,
    predictions_from_coco_results,
)
from lumbarseg.io.jsonfile import load_json


def load_coco_ground_truth(
    path: str | os.PathLike,
) -> tuple[list[ImageGroundTruth], dict[int, int]]:
    """Ground truth of every image in a COCO instances file, and category id -> level index."""
    path = Path(path)
    data = load_json(path)
    if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= data.keys():
        raise InputFileError(path, "not a COCO instances file (images/annotations/categories)")
    try:
        cats = data["categories"]
        cat_to_level = level_index_map([c["name"] for c in cats], [c["id"] for c in cats])
        by_image = defaultdict(list)
        for ann in data["annotations"]:
            by_image[ann["image_id"]].append(ann)
        images = [
            ground_truth_from_annotations(
                img["id"],
                img["height"],
                img["width"],
                by_image.get(img["id"], []),
                cat_to_level,
                pixel_spacing_of(img),
            )
            for img in data["images"]
        ]
    except LumbarsegError as exc:
        raise InputFileError(path, str(exc)) from None
    except (KeyError, TypeError, ValueError) as exc:
        problem = f"malformed COCO entry ({one_line(exc, with_type=True)})"
        raise InputFileError(path, problem) from None
    return images, cat_to_level


def evaluate_coco_files(
    predictions_path: str | os.PathLike,
    gt_path: str | os.PathLike,
    settings: EvaluationSettings | None = None,
) -> OrderedDict:
    """Results dict (as ``LumbarSegEvaluator.evaluate``) of saved COCO results vs a COCO GT."""
    predictions_path = Path(predictions_path)
    images, cat_to_level = load_coco_ground_truth(gt_path)
    data = load_json(predictions_path)
    if isinstance(data, dict) and "annotations" in data:
        data = data["annotations"]
    if not isinstance(data, list):
        raise InputFileError(predictions_path, "expected a list of COCO result entries")
    known = {gt.image_id for gt in images}
    per_image = defaultdict(list)
    for entry in data:
        if not isinstance(entry, dict) or "image_id" not in entry:
            raise InputFileError(predictions_path, "an entry has no image_id")
        if entry["image_id"] not in known:
            raise InputFileError(
                predictions_path, f"image_id {entry['image_id']} is not in {Path(gt_path).name}"
            )
        per_image[entry["image_id"]].append(entry)
    accumulator = LumbarSegAccumulator(settings)
    for gt in images:
        try:
            preds = predictions_from_coco_results(
                per_image.get(gt.image_id, []), gt.height, gt.width, cat_to_level
            )
            accumulator.add(gt, predictions=preds)
        except LumbarsegError as exc:
            raise InputFileError(predictions_path, f"image {gt.image_id}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise InputFileError(
                predictions_path, f"image {gt.image_id}: malformed entry ({exc})"
            ) from None
    return accumulator.summarize()

"""Evaluation shared by training-time evaluation and ``lumbarseg evaluate``.

``LumbarSegEvaluator`` (Detectron2) and ``evaluate_coco_files`` (saved predictions) both score
images with ``LumbarSegAccumulator``. The evaluator is imported lazily so offline use does not
pay for importing Detectron2.
"""

from __future__ import annotations

from lumbarseg.evaluation.accumulator import (
    EvaluationSettings,
    ImageRecord,
    LumbarSegAccumulator,
    score_image,
)
from lumbarseg.evaluation.offline import evaluate_coco_files, load_coco_ground_truth
from lumbarseg.evaluation.report import format_markdown, write_results
from lumbarseg.evaluation.structures import (
    ImageGroundTruth,
    InstancePredictions,
    ground_truth_from_annotations,
    predictions_from_coco_results,
    predictions_from_masks,
)

__all__ = [
    "EvaluationSettings",
    "ImageGroundTruth",
    "ImageRecord",
    "InstancePredictions",
    "LumbarSegAccumulator",
    "LumbarSegEvaluator",
    "evaluate_coco_files",
    "format_markdown",
    "ground_truth_from_annotations",
    "load_coco_ground_truth",
    "predictions_from_coco_results",
    "predictions_from_masks",
    "score_image",
    "write_results",
]


def __getattr__(name: str):
    if name == "LumbarSegEvaluator":
        from lumbarseg.evaluation.evaluator import LumbarSegEvaluator

        return LumbarSegEvaluator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

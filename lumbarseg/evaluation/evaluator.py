"""Detectron2 ``DatasetEvaluator`` for instance and semantic vertebra models.

Streaming: ``process`` scores each image at once (label-map confusion matrix, vertebra
matches) and keeps only RLEs and small arrays; ``evaluate`` gathers the per-image records
to the main process and summarises them with the same accumulator as ``lumbarseg evaluate``.
"""

from __future__ import annotations

import copy
import itertools
import logging
from collections import OrderedDict
from pathlib import Path

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

from lumbarseg.errors import LumbarsegError
from lumbarseg.evaluation.accumulator import EvaluationSettings, LumbarSegAccumulator
from lumbarseg.evaluation.label_maps import NUM_CLASSES
from lumbarseg.evaluation.report import RESULTS_STEM, write_results
from lumbarseg.evaluation.structures import (
    ImageGroundTruth,
    InstancePredictions,
    ground_truth_from_annotations,
    level_index_map,
    pixel_spacing_of,
    predictions_from_masks,
)
from lumbarseg.io.atomic import write_json_atomic
from lumbarseg.io.jsonfile import load_json
from lumbarseg.levels import NUM_LEVELS

logger = logging.getLogger(__name__)

# Detectron2's name for an evaluator's saved predictions (category ids as in the dataset file).
PREDICTIONS_FILE = "coco_instances_results.json"


class LumbarSegEvaluator(DatasetEvaluator):
    """Mask/box AP, label-map metrics, Dice, recognition and sequence accuracy.

    Works for models returning ``{"instances": Instances}`` (pred_masks, pred_boxes, scores,
    pred_classes as contiguous ids) and for semantic models returning ``{"sem_seg": (7, H, W)}``
    logits/probabilities (channel 0 background, 1..6 = L1..S1); for semantic models the
    instance metrics (AP) are skipped and vertebrae are connected components.
    """

    def __init__(
        self,
        dataset_name: str,
        output_dir: str | None = None,
        *,
        settings: EvaluationSettings | None = None,
        distributed: bool = True,
    ):
        self._dataset_name = dataset_name
        self._output_dir = output_dir
        self._settings = settings or EvaluationSettings()
        self._distributed = distributed
        self._accumulator = LumbarSegAccumulator(self._settings)
        meta = MetadataCatalog.get(dataset_name)
        classes = getattr(meta, "thing_classes", None)
        if classes:
            self._class_to_level = level_index_map(classes, range(len(classes)))
        else:
            self._class_to_level = {i: i for i in range(NUM_LEVELS)}
        self._level_of_class = np.full(max(self._class_to_level) + 1, -1, np.int64)
        for cls, level in self._class_to_level.items():
            self._level_of_class[cls] = level
        self._dataset = {d["image_id"]: d for d in DatasetCatalog.get(dataset_name)}
        self._spacing = self._pixel_spacings(meta)
        self._dataset_ids = self._dataset_category_ids(meta)

    def _dataset_category_ids(self, meta) -> dict[int, int]:
        """Level index -> category id of the dataset file, for saved predictions (COCO
        results refer to the file's ids); 1..6 when the metadata has no id mapping.
        Read after the dataset is loaded: ``load_coco_json`` sets the mapping then."""
        id_map = meta.get("thing_dataset_id_to_contiguous_id", None)
        if not id_map:
            return {k: k + 1 for k in range(NUM_LEVELS)}
        return {
            self._class_to_level[cls]: int(dataset_id)
            for dataset_id, cls in id_map.items()
            if cls in self._class_to_level
        }

    def _pixel_spacings(self, meta) -> dict:
        """Spacing per image id: from the dataset dicts, else from the COCO file they came from
        (Detectron2's ``load_coco_json`` drops extra image fields)."""
        spacing = {i: pixel_spacing_of(d) for i, d in self._dataset.items()}
        json_file = getattr(meta, "json_file", None)
        if all(v is None for v in spacing.values()) and json_file and Path(json_file).is_file():
            for img in load_json(json_file, "dataset JSON").get("images", []):
                if img.get("id") in spacing:
                    spacing[img["id"]] = pixel_spacing_of(img)
        return spacing

    def reset(self) -> None:
        self._accumulator.reset()

    def _ground_truth(self, image_id) -> ImageGroundTruth:
        if image_id not in self._dataset:
            raise LumbarsegError(f"image_id {image_id} is not in dataset {self._dataset_name!r}")
        record = self._dataset[image_id]
        return ground_truth_from_annotations(
            image_id,
            record["height"],
            record["width"],
            record.get("annotations", []),
            self._class_to_level,
            self._spacing.get(image_id),
        )

    def _instances(self, instances) -> InstancePredictions:
        instances = instances.to("cpu")
        if not instances.has("pred_masks"):
            raise LumbarsegError("instance predictions have no pred_masks; masks are needed")
        classes = instances.pred_classes.numpy().astype(np.int64)
        if classes.size and classes.max() >= len(self._level_of_class):
            raise LumbarsegError(f"predicted class {classes.max()} has no level")
        return predictions_from_masks(
            instances.pred_masks.numpy().astype(bool),
            self._level_of_class[classes],
            instances.scores.numpy(),
            instances.pred_boxes.tensor.numpy(),
        )

    def process(self, inputs, outputs) -> None:
        for inp, out in zip(inputs, outputs, strict=True):
            gt = self._ground_truth(inp["image_id"])
            if "instances" in out:
                self._accumulator.add(gt, predictions=self._instances(out["instances"]))
            elif "sem_seg" in out:
                sem_seg = out["sem_seg"]
                if sem_seg.dim() != 3 or sem_seg.shape[0] != NUM_CLASSES:
                    raise LumbarsegError(
                        f"sem_seg must be ({NUM_CLASSES}, H, W), got {tuple(sem_seg.shape)}"
                    )
                label_map = sem_seg.argmax(dim=0).to("cpu").numpy().astype(np.uint8)
                self._accumulator.add(gt, label_map=label_map)
            else:
                raise LumbarsegError("model output has neither 'instances' nor 'sem_seg'")

    def evaluate(self) -> OrderedDict:
        records = self._accumulator.records
        if self._distributed:
            comm.synchronize()
            records = list(itertools.chain(*comm.gather(records, dst=0)))
            if not comm.is_main_process():
                return OrderedDict()
        if not records:
            logger.warning("LumbarSegEvaluator: no images were processed")
            return OrderedDict()
        summary = LumbarSegAccumulator(self._settings)
        summary.extend(records)
        results = summary.summarize()
        if self._output_dir:
            write_results(results, self._output_dir, RESULTS_STEM)
            detections = [
                dict(d, category_id=self._dataset_ids[d["category_id"] - 1])
                for r in records
                if r.detections is not None
                for d in r.detections
            ]
            if any(r.detections is not None for r in records):
                write_json_atomic(Path(self._output_dir) / PREDICTIONS_FILE, detections)
        return copy.deepcopy(results)

"""Dataset mapper for radiographs: windowed grayscale input and X-ray-sensible augmentation.

Extends Detectron2's ``DatasetMapper`` rather than replacing it: only image loading (DICOM
or PNG through ``to_network_input``, the same pixels inference sees) and the augmentation
list differ; annotation handling is Detectron2's own.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from detectron2.config import CfgNode, configurable
from detectron2.data import DatasetMapper
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T

from lumbarseg.data.augment import ColumnCrop, ImplantPaste, RandomNoiseBlur, RandomPolarity
from lumbarseg.evaluation.label_maps import ground_truth_label_map
from lumbarseg.evaluation.structures import ground_truth_from_annotations
from lumbarseg.io.radiograph import load_network_input
from lumbarseg.levels import NUM_LEVELS


class RandomIntensity(T.Augmentation):
    """Brightness, contrast and gamma jitter: exposure varies between X-ray systems."""

    def __init__(
        self,
        brightness: tuple[float, float],
        contrast: tuple[float, float],
        gamma: tuple[float, float],
    ):
        super().__init__()
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> T.Transform:
        b = np.random.uniform(*self.brightness)
        c = np.random.uniform(*self.contrast)
        g = np.exp(np.random.uniform(np.log(self.gamma[0]), np.log(self.gamma[1])))
        lut = np.arange(256, dtype=np.float32) / 255.0
        lut = np.clip((lut**g - 0.5) * c + 0.5, 0, 1) * b
        lut = np.clip(lut * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return T.ColorTransform(lambda img: lut[img])


def build_radiograph_augmentation(cfg: CfgNode, is_train: bool) -> list[T.Augmentation]:
    augs = utils.build_augmentation(cfg, is_train)  # resize (+ flip when training)
    aug_cfg = cfg.LUMBARSEG.AUG
    if not (is_train and aug_cfg.ENABLED):
        return [a for a in augs if not isinstance(a, T.RandomFlip)]
    augs = [a for a in augs if not isinstance(a, T.RandomFlip)]
    if aug_cfg.ROTATION_DEG > 0:
        augs.insert(
            0,
            T.RandomRotation(
                [-aug_cfg.ROTATION_DEG, aug_cfg.ROTATION_DEG], expand=False, sample_style="range"
            ),
        )
    augs.append(RandomIntensity(aug_cfg.BRIGHTNESS, aug_cfg.CONTRAST, aug_cfg.GAMMA))
    augs.append(RandomNoiseBlur(aug_cfg.NOISE_PROB, aug_cfg.NOISE_STD, aug_cfg.BLUR_PROB,
                                aug_cfg.BLUR_SIGMA))
    if aug_cfg.INVERT_PROB > 0:
        augs.append(RandomPolarity(aug_cfg.INVERT_PROB))
    if aug_cfg.HFLIP_PROB > 0:
        augs.append(T.RandomFlip(prob=aug_cfg.HFLIP_PROB, horizontal=True, vertical=False))
    return augs


def build_record_augmentation(cfg: CfgNode, is_train: bool) -> list:
    """Steps that need the annotations (crop of the column, implant paste); training only."""
    aug_cfg = cfg.LUMBARSEG.AUG
    if not (is_train and aug_cfg.ENABLED):
        return []
    steps: list = []
    if aug_cfg.CROP_PROB > 0:
        steps.append(ColumnCrop(aug_cfg.CROP_PROB, aug_cfg.CROP_MAX_CUT))
    if aug_cfg.IMPLANT_PROB > 0:
        steps.append(ImplantPaste(aug_cfg.IMPLANT_PROB))
    return steps


def semantic_label_map(annotations: list[dict], height: int, width: int) -> np.ndarray:
    """Training target for the semantic baseline, painted by the same rule evaluation uses."""
    gt = ground_truth_from_annotations(
        0, height, width, annotations, {k: k for k in range(NUM_LEVELS)}
    )
    return ground_truth_label_map(gt)


class RadiographDatasetMapper(DatasetMapper):
    @configurable
    def __init__(self, is_train: bool = True, *, semantic: bool = False,
                 record_augmentations: list | None = None, cache_mb: float = 0.0, **kwargs):
        super().__init__(is_train, **kwargs)
        self.semantic = semantic
        self.record_augmentations = list(record_augmentations or [])
        self.cache_bytes = int(cache_mb * 2**20)
        self._cache: dict[str, np.ndarray] = {}
        self._cached = 0

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True) -> dict:
        ret = super().from_config(cfg, is_train)
        ret["augmentations"] = build_radiograph_augmentation(cfg, is_train)
        ret["record_augmentations"] = build_record_augmentation(cfg, is_train)
        ret["cache_mb"] = float(cfg.LUMBARSEG.AUG.IMAGE_CACHE_MB) if is_train else 0.0
        ret["semantic"] = cfg.MODEL.META_ARCHITECTURE == "SemanticSegmentor"
        if ret["semantic"]:
            ret["use_instance_mask"] = False
            ret["recompute_boxes"] = False
        return ret

    def _network_input(self, path: str) -> np.ndarray:
        """Decoded uint8 image, from the in-memory cache when it holds it (a copy)."""
        gray = self._cache.get(path)
        if gray is None:
            gray = load_network_input(path)
            if self._cached + gray.nbytes <= self.cache_bytes:
                self._cache[path] = gray
                self._cached += gray.nbytes
        return gray.copy()

    def read_image(self, dataset_dict: dict) -> np.ndarray:
        gray = self._network_input(dataset_dict["file_name"])
        if self.image_format == "L":
            return gray[:, :, None]
        return np.repeat(gray[:, :, None], 3, axis=2)

    def __call__(self, dataset_dict: dict) -> dict:
        dataset_dict = copy.deepcopy(dataset_dict)
        image = self.read_image(dataset_dict)
        utils.check_image_size(dataset_dict, image)
        if self.is_train and "annotations" in dataset_dict:
            for step in self.record_augmentations:
                image, dataset_dict["annotations"] = step(image, dataset_dict["annotations"])
            dataset_dict["height"], dataset_dict["width"] = image.shape[:2]
        sem_seg = None
        if self.semantic and "annotations" in dataset_dict:
            sem_seg = semantic_label_map(dataset_dict["annotations"], *image.shape[:2])
        aug_input = T.AugInput(image, sem_seg=sem_seg)
        transforms = self.augmentations(aug_input)
        image, sem_seg = aug_input.image, aug_input.sem_seg
        if image.ndim == 2:
            image = image[:, :, None]
        if not image.flags.writeable:  # PIL-backed resize output; torch wants writable memory
            image = image.copy()
        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if sem_seg is not None:
            dataset_dict["sem_seg"] = torch.as_tensor(sem_seg.astype("long"))
        if not self.is_train:
            dataset_dict.pop("annotations", None)
            return dataset_dict
        if self.semantic:
            dataset_dict.pop("annotations", None)
        elif "annotations" in dataset_dict:
            self._transform_annotations(dataset_dict, transforms, image.shape[:2])
        return dataset_dict

"""Decoding inputs in DataLoader workers: model-ready tensors out, errors as records.

Each sample is decoded through ``lumbarseg.io.radiograph`` (the same pixels training saw)
and resized with the test-time augmentation of the config. A file that cannot be read
becomes an error record instead of an exception, so one bad file never stops a run.
"""

from __future__ import annotations

from typing import Any

import torch
from detectron2.config import CfgNode
from detectron2.data import transforms as T

from lumbarseg.errors import error_reason
from lumbarseg.inference.discovery import InputItem
from lumbarseg.io.dicom import NotAnImageError
from lumbarseg.io.radiograph import read_radiograph, to_network_input


class InferenceDataset(torch.utils.data.Dataset):
    """Map-style dataset over discovered items (order preserved by the DataLoader)."""

    def __init__(self, items: list[InputItem], cfg: CfgNode, keep_phi: bool = False,
                 blocks: list[int] | None = None):
        from lumbarseg.data.mapper import build_radiograph_augmentation

        self.items = items
        self.blocks = blocks if blocks is not None else list(range(len(items)))
        self.augmentations = T.AugmentationList(build_radiograph_augmentation(cfg, False))
        self.keep_phi = keep_phi

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.items[index]
        try:
            return self._load(index, item)
        except Exception as exc:  # reported per file; the run goes on
            # Non-image DICOM objects (SR, presentation states...) are skipped, not failed.
            skipped = isinstance(exc, NotAnImageError)
            return {"index": index, "error": error_reason(exc), "skipped": skipped}

    def _load(self, index: int, item: InputItem) -> dict[str, Any]:
        radiograph = read_radiograph(item.path, keep_phi=self.keep_phi)
        gray = to_network_input(radiograph)
        aug_input = T.AugInput(gray[:, :, None])
        self.augmentations(aug_input)
        resized = aug_input.image
        if resized.ndim == 2:
            resized = resized[:, :, None]
        # One channel always: the predictor expands it on the device when the model wants
        # three, so workers ship a third of the bytes.
        image = torch.from_numpy(resized.transpose(2, 0, 1).copy())
        spacing = radiograph.pixel_spacing_mm
        sample = {
            "index": index,
            "block": self.blocks[index],
            "error": None,
            "image": image,
            "gray": gray,
            "height": int(gray.shape[0]),
            "width": int(gray.shape[1]),
            "pixel_spacing_mm": [float(spacing[0]), float(spacing[1])] if spacing else None,
            "pixel_spacing_source": radiograph.meta.get("pixel_spacing_source"),
            "caudal": radiograph.caudal,
            "source": {
                "format": "dicom" if "TransferSyntaxUID" in radiograph.meta else "raster",
                "photometric": radiograph.meta.get("PhotometricInterpretation"),
                "voi": radiograph.meta.get("voi"),
            },
        }
        if str(radiograph.meta.get("BurnedInAnnotation") or "").strip().upper() == "YES":
            sample["source"]["burned_in_annotation"] = True
        if radiograph.phi is not None:
            sample["phi"] = radiograph.phi
        return sample


def worker_init(_: int) -> None:
    """Workers decode one image each; extra threads per worker only oversubscribe the CPU."""
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def build_loader(
    dataset: InferenceDataset, num_workers: int, pin_memory: bool = False
) -> torch.utils.data.DataLoader:
    """Yields single samples in order; batching happens later, by image shape."""
    kwargs: dict[str, Any] = {}
    if num_workers > 0:
        # Spawned, not forked: a fork taken while the parent's OpenCV/torch threads
        # hold a lock deadlocks the worker (seen after the parent had used cv2).
        kwargs.update(prefetch_factor=4, persistent_workers=False, worker_init_fn=worker_init,
                      multiprocessing_context="spawn")
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=pin_memory,
        **kwargs,
    )

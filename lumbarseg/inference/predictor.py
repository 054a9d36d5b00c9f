"""The model side of inference: build from config + weights, batched forward, optional fusion.

Batches only ever hold images of the same padded size. Detectron2 pads a batch to its
largest image, and with GroupNorm the padding changes every image's features: same-size
batches make each image's result independent of its batch-mates, so a resumed or sharded
run gives the same predictions as a single uninterrupted one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.structures import Instances

import lumbarseg.modeling  # noqa: F401  (registers the ROI heads and backbone)


def load_model(cfg: CfgNode, weights: str) -> torch.nn.Module:
    """Build the model in eval mode and load weights (a path or any URL Detectron2 knows)."""
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.modeling import build_model

    from lumbarseg.errors import LumbarsegError, one_line

    model = build_model(cfg)
    model.eval()
    if not weights:
        raise LumbarsegError("no weights given: inference needs a trained checkpoint")
    try:
        DetectionCheckpointer(model).load(weights)
    except (AssertionError, OSError, RuntimeError, KeyError, ValueError) as exc:
        problem = f"cannot load weights ({one_line(exc, with_type=True)})"
        raise LumbarsegError(f"{weights}: {problem}") from None
    return model


class BatchPredictor:
    """Runs one or more models on a batch of samples from ``InferenceDataset``."""

    def __init__(
        self,
        models: list[torch.nn.Module],
        cfg: CfgNode,
        device: str,
        amp: bool = True,
        fusion_iou: float = 0.5,
    ):
        self.models = models
        self.device = torch.device(device)
        self.channels = len(cfg.MODEL.PIXEL_MEAN)
        self.amp = amp and self.device.type == "cuda"
        self.fusion_iou = fusion_iou
        self.size_divisibility = max(m.backbone.size_divisibility for m in models) or 1

    def padded_shape(self, sample: dict[str, Any]) -> tuple[int, int]:
        d = self.size_divisibility
        h, w = sample["image"].shape[-2:]
        return (-(-h // d) * d, -(-w // d) * d)

    def _inputs(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        inputs = []
        for sample in batch:
            image = sample["image"].to(self.device, non_blocking=True)
            if image.shape[0] != self.channels:
                image = image.expand(self.channels, -1, -1)
            inputs.append({"image": image, "height": sample["height"], "width": sample["width"]})
        return inputs

    def __call__(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Compact per-image detections (see ``compact_instances``), on the CPU."""
        inputs = self._inputs(batch)
        per_model = []
        autocast = (
            torch.autocast("cuda", dtype=torch.float16) if self.amp else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            for model in self.models:
                outputs = model(inputs)
                per_model.append([o["instances"] for o in outputs])
            if len(per_model) == 1:
                results = per_model[0]
            else:
                groups = zip(*per_model, strict=True)
                results = [fuse_instances(list(group), self.fusion_iou) for group in groups]
            return [compact_instances(r) for r in results]


def compact_instances(instances: Instances) -> dict[str, Any]:
    """Detections with each mask cropped to its own extent, moved to the CPU.

    Full-image masks of 20 detections on a 3000 px radiograph are ~180 MB; the crops are a
    few MB, cheap to copy from the GPU and to hand to labelling processes. Masks are pasted
    inside their boxes, so each is cut from its box plus a margin, checked by pixel count
    (a full scan per mask along rows/columns was measured at 11 ms per image on CPU).
    """
    masks = instances.pred_masks
    if masks.dtype != torch.bool:
        masks = masks > 0.5
    n, height, width = masks.shape
    boxes = instances.pred_boxes.tensor.float().cpu().numpy()
    if masks.device.type == "cpu":  # numpy: torch's CPU reductions over bool are ~50x slower
        masks = masks.numpy()
        totals = [np.count_nonzero(m) for m in masks]
    else:
        totals = torch.count_nonzero(masks.reshape(n, -1), dim=1).cpu().numpy() if n else []
    crops, offsets = [], []
    for i in range(n):
        x0, y0, x1, y1 = boxes[i]
        margin = 2 + 0.1 * max(x1 - x0, y1 - y0)
        window = (max(0, int(np.floor(y0 - margin))), min(height, int(np.ceil(y1 + margin))),
                  max(0, int(np.floor(x0 - margin))), min(width, int(np.ceil(x1 + margin))))
        crop = _numpy(masks[i, window[0]:window[1], window[2]:window[3]])
        if np.count_nonzero(crop) != int(totals[i]):  # pixels outside the box: whole mask
            window = (0, height, 0, width)
            crop = _numpy(masks[i])
        ys, xs = np.flatnonzero(crop.any(axis=1)), np.flatnonzero(crop.any(axis=0))
        if ys.size == 0:
            crops.append(np.zeros((0, 0), dtype=bool))
            offsets.append((0, 0))
            continue
        crops.append(crop[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1])
        offsets.append((window[0] + int(ys[0]), window[2] + int(xs[0])))
    out = {
        "image_size": (int(height), int(width)),
        "boxes": boxes,
        "scores": instances.scores.float().cpu().numpy(),
        "classes": instances.pred_classes.cpu().numpy(),
        "mask_crops": crops,
        "mask_offsets": offsets,
    }
    if instances.has("class_scores"):
        out["class_scores"] = instances.class_scores.float().cpu().numpy()
    return out


def _numpy(array) -> np.ndarray:
    return array.cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)


def expand_instances(compact: dict[str, Any]) -> Instances:
    """The CPU ``Instances`` (full-image masks) that ``compact_instances`` described."""
    from detectron2.structures import Boxes

    height, width = compact["image_size"]
    masks = np.zeros((len(compact["scores"]), height, width), dtype=bool)
    for mask, crop, (y0, x0) in zip(masks, compact["mask_crops"], compact["mask_offsets"],
                                    strict=True):
        mask[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]] = crop
    out = Instances((height, width))
    out.pred_masks = torch.from_numpy(masks)
    out.pred_boxes = Boxes(torch.from_numpy(compact["boxes"]))
    out.scores = torch.from_numpy(compact["scores"])
    out.pred_classes = torch.from_numpy(compact["classes"])
    if "class_scores" in compact:
        out.class_scores = torch.from_numpy(compact["class_scores"])
    return out


# Batches are formed within blocks of this many batches' worth of consecutive inputs, so
# images of the same size can share a batch even when sizes alternate in the folder.
BLOCK_BATCHES = 4


def shape_batches(
    samples: Iterable[dict[str, Any]], batch_size: int, key
) -> Iterator[list[dict[str, Any]]]:
    """Batches = up to ``batch_size`` samples of one ``block`` sharing ``key(sample)`` (the
    padded size), in input order; error records pass through alone.

    Blocks are fixed by position in the shard's input list, not by what is left to do, so a
    resumed run forms exactly the batches of an uninterrupted one (batched kernels round
    differently for different batch sizes). At most one block waits in memory.
    """
    buckets: dict[Any, list[dict[str, Any]]] = {}
    block = None
    for sample in samples:
        if sample.get("error") is not None:
            yield [sample]
            continue
        if sample["block"] != block:
            yield from buckets.values()
            buckets, block = {}, sample["block"]
        bucket = buckets.setdefault(key(sample), [])
        bucket.append(sample)
        if len(bucket) == batch_size:
            yield buckets.pop(key(sample))
    yield from buckets.values()


def fuse_instances(results: list[Instances], iou_threshold: float = 0.5) -> Instances:
    """Fuse detections of several models (e.g. Mask R-CNN + PointRend) on one image.

    Detections of the same class whose masks overlap by ``iou_threshold`` are one vertebra:
    the best-scoring detection of the group keeps its mask and box, the score becomes the
    group's summed score divided by the number of models (as in weighted boxes fusion: a
    vertebra found by only one of two models keeps half its score), and per-level
    probabilities are averaged over the group.
    """
    from detectron2.layers import cat

    merged = Instances.cat([r for r in results]) if len(results) > 1 else results[0]
    n_models = len(results)
    if len(merged) == 0:
        return merged
    order = torch.argsort(merged.scores, descending=True)
    merged = merged[order]
    # IoU on a 4x subsampled grid: full-resolution masks of 40 detections would be gigabytes.
    masks = merged.pred_masks[:, ::4, ::4].flatten(1).float()
    areas = masks.sum(1)
    inter = masks @ masks.T
    iou = inter / (areas[:, None] + areas[None, :] - inter).clamp_min(1.0)
    same_class = merged.pred_classes[:, None] == merged.pred_classes[None, :]
    linked = (iou >= iou_threshold) & same_class
    taken = torch.zeros(len(merged), dtype=torch.bool, device=merged.scores.device)
    keep, scores, class_scores = [], [], []
    for i in range(len(merged)):
        if taken[i]:
            continue
        group = torch.nonzero(linked[i] & ~taken).flatten()
        taken[group] = True
        keep.append(i)
        scores.append(merged.scores[group].sum() / n_models)
        if merged.has("class_scores"):
            class_scores.append(merged.class_scores[group].mean(0))
    fused = merged[torch.tensor(keep, dtype=torch.long, device=merged.scores.device)]
    fused.scores = torch.stack(scores).float().clamp(max=1.0)
    if class_scores:
        fused.class_scores = cat([c[None] for c in class_scores]).float()
    order = torch.argsort(fused.scores, descending=True)
    return fused[order]

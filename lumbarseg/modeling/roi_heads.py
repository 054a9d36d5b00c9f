"""ROI heads that score each detection as a vertebra and keep its probability for every level.

Stock Detectron2 turns one proposal into one detection per class, each scored by that class's
probability. For vertebrae that splits the evidence: a body the model is sure of but unsure
whether it is L2 or L3 comes out twice at 0.45, and a score threshold of 0.5 then loses it,
which is what happens first on films unlike the training set. The level is the labeller's job
(it decides the whole column at once), so with ``LUMBARSEG.SCORE_BY: "vertebra"`` (default)
each proposal gives at most one detection, scored by P(vertebra) = 1 - P(background), with
the box of its likeliest level and class-agnostic NMS (one body, one detection).
``"level"`` keeps Detectron2's per-class behaviour.

With ``MODEL.ROI_BOX_HEAD.CONTEXT_SCALE`` > 1 the box head sees each proposal twice: pooled
as it is and pooled from the same box enlarged by that factor about its centre, the two
concatenated along channels. Inside its own box the top of S1 looks like the segment below it
(S2) and a body like its neighbour; what tells them apart is around it (a disc space above S1,
fused bone above S2). The mask head pools the tight box as before.

Either way inference adds ``Instances.class_scores`` (N, K): the foreground class
probabilities renormalised to sum to 1. Without context pooling (``CONTEXT_SCALE`` 1) training
is unchanged, so weights are interchangeable with ``StandardROIHeads``; with it the box head
is built for twice the pooled channels and needs weights trained that way.
"""

from __future__ import annotations

import copy

import detectron2.projects.point_rend  # noqa: F401  (registers PointRendMaskHead)
import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec, nms
from detectron2.modeling import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.modeling.poolers import ROIPooler
from detectron2.modeling.roi_heads.box_head import build_box_head
from detectron2.modeling.roi_heads.fast_rcnn import FastRCNNOutputLayers
from detectron2.structures import Boxes, Instances
from torch import nn

SCORE_BY = ("vertebra", "level")


def vertebra_detections(boxes: torch.Tensor, probs: torch.Tensor, image_size: tuple[int, int],
                        score_thresh: float, nms_thresh: float, topk: int) -> Instances:
    """One detection per proposal: score P(vertebra), class and box of the likeliest level.

    ``boxes`` (R, K*4) class-specific (or (R, 4) class-agnostic) boxes, ``probs`` (R, K+1)."""
    foreground = probs[:, :-1]
    score = foreground.sum(dim=1)
    level = foreground.argmax(dim=1)
    per_class = boxes.reshape(boxes.shape[0], -1, 4)
    pick = level if per_class.shape[1] > 1 else torch.zeros_like(level)
    box = Boxes(per_class[torch.arange(len(level)), pick])
    box.clip(image_size)
    ok = torch.isfinite(box.tensor).all(dim=1) & torch.isfinite(score) & (score > score_thresh)
    box, score, level, foreground = box[ok], score[ok], level[ok], foreground[ok]
    keep = nms(box.tensor, score, nms_thresh)
    if topk >= 0:
        keep = keep[:topk]
    result = Instances(image_size)
    result.pred_boxes = box[keep]
    result.scores = score[keep]
    result.pred_classes = level[keep]
    result.class_scores = foreground[keep] / score[keep, None].clamp_min(1e-8)
    return result


def enlarge_boxes(boxes: Boxes, scale: float) -> Boxes:
    """The same boxes scaled by ``scale`` about their centres (not clipped: ROIAlign reads
    zeros outside the image, which is what lies there)."""
    centre = boxes.get_centers()
    half = (boxes.tensor[:, 2:] - boxes.tensor[:, :2]) * (scale / 2)
    return Boxes(torch.cat([centre - half, centre + half], dim=1))


class ContextROIPooler(nn.Module):
    """A ``ROIPooler`` that returns each box's features and its enlarged box's, concatenated
    along channels (2C, R, R): a drop-in for the box head's pooler.

    The enlarged boxes are read with two by two samples per bin: adaptive sampling gives a
    box twice the size four times the samples of its tight box, and ROIAlign's backward pass
    is most of what the context costs an iteration on the CPU (one sample per bin saves more
    but lost the gain: README, results section)."""

    def __init__(self, pooler: ROIPooler, scale: float):
        super().__init__()
        self.pooler = pooler
        self.context_pooler = copy.deepcopy(pooler)  # the same ROIAlign type and levels
        for aligner in self.context_pooler.level_poolers:
            aligner.sampling_ratio = 2
        self.scale = scale

    def forward(self, features: list[torch.Tensor], box_lists: list[Boxes]) -> torch.Tensor:
        context = [enlarge_boxes(b, self.scale) for b in box_lists]
        return torch.cat(
            [self.pooler(features, box_lists), self.context_pooler(features, context)], 1
        )


@ROI_HEADS_REGISTRY.register()
class LevelScoresROIHeads(StandardROIHeads):
    @configurable
    def __init__(self, *, score_by: str = "vertebra", **kwargs):
        super().__init__(**kwargs)
        if score_by not in SCORE_BY:
            raise ValueError(f"LUMBARSEG.SCORE_BY {score_by!r}: choose from {', '.join(SCORE_BY)}")
        self.score_by = score_by

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret["score_by"] = cfg.LUMBARSEG.SCORE_BY if "LUMBARSEG" in cfg else "level"
        return ret

    @classmethod
    def _init_box_head(cls, cfg, input_shape):
        ret = super()._init_box_head(cfg, input_shape)
        scale = cfg.MODEL.ROI_BOX_HEAD.get("CONTEXT_SCALE", 1.0)
        if scale < 1.0:
            raise ValueError(f"MODEL.ROI_BOX_HEAD.CONTEXT_SCALE {scale}: must be >= 1 (1 = off)")
        if scale > 1.0:
            # The head and predictor are rebuilt for twice the pooled channels.
            channels = input_shape[ret["box_in_features"][0]].channels
            resolution = cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION
            ret["box_pooler"] = ContextROIPooler(ret["box_pooler"], scale)
            ret["box_head"] = build_box_head(
                cfg, ShapeSpec(channels=2 * channels, height=resolution, width=resolution)
            )
            ret["box_predictor"] = FastRCNNOutputLayers(cfg, ret["box_head"].output_shape)
        return ret

    def _forward_box(self, features: dict[str, torch.Tensor], proposals: list[Instances]):
        if self.training:
            return super()._forward_box(features, proposals)
        box_features = self.box_pooler(
            [features[f] for f in self.box_in_features], [p.proposal_boxes for p in proposals]
        )
        predictions = self.box_predictor(self.box_head(box_features))
        del box_features
        probs = self.box_predictor.predict_probs(predictions, proposals)
        if self.score_by == "vertebra":
            head = self.box_predictor
            boxes = head.predict_boxes(predictions, proposals)
            return [vertebra_detections(b, p, x.image_size, head.test_score_thresh,
                                        head.test_nms_thresh, head.test_topk_per_image)
                    for b, p, x in zip(boxes, probs, proposals, strict=True)]
        pred_instances, kept = self.box_predictor.inference(predictions, proposals)
        for instances, probs_per_image, kept_per_image in zip(
            pred_instances, probs, kept, strict=True
        ):
            foreground = probs_per_image[kept_per_image, :-1]
            total = foreground.sum(dim=1, keepdim=True).clamp_min(1e-8)
            instances.class_scores = foreground / total
        return pred_instances

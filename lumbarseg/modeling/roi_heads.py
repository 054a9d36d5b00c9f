"""ROI heads that keep each detection's probability for every level.

Stock Detectron2 reports only the winning class. The labeller decides the whole column's
levels at once and needs the runner-up levels too, so inference adds
``Instances.class_scores`` (N, K): foreground class probabilities renormalised to sum to 1.
Training is unchanged, so weights are interchangeable with ``StandardROIHeads``.
"""

from __future__ import annotations

import detectron2.projects.point_rend  # noqa: F401  (registers PointRendMaskHead)
import torch
from detectron2.modeling import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.structures import Instances


@ROI_HEADS_REGISTRY.register()
class LevelScoresROIHeads(StandardROIHeads):
    def _forward_box(self, features: dict[str, torch.Tensor], proposals: list[Instances]):
        if self.training:
            return super()._forward_box(features, proposals)
        box_features = self.box_pooler(
            [features[f] for f in self.box_in_features], [p.proposal_boxes for p in proposals]
        )
        predictions = self.box_predictor(self.box_head(box_features))
        del box_features
        pred_instances, kept = self.box_predictor.inference(predictions, proposals)
        probs = self.box_predictor.predict_probs(predictions, proposals)
        for instances, probs_per_image, kept_per_image in zip(
            pred_instances, probs, kept, strict=True
        ):
            foreground = probs_per_image[kept_per_image, :-1]
            total = foreground.sum(dim=1, keepdim=True).clamp_min(1e-8)
            instances.class_scores = foreground / total
        return pred_instances

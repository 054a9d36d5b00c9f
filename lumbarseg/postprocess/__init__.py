"""Postprocessing: instance masks -> ordered L1-L5/S1 labels, QA flags and measurements.

Public API (stable; batch inference and the ``lumbarseg label`` command use it)::

    from lumbarseg.postprocess import Candidate, LabellerConfig, label_vertebrae

    cands = [Candidate(mask=m, score=s, class_scores=p) for m, s, p in ...]
    # or: cands = candidates_from_instances(instances)   # Detectron2 Instances, lazily read
    result = label_vertebrae(cands, image=pixels, pixel_spacing_mm=(0.15, 0.15))
    result.vertebrae    # [LabelledVertebra(index, level, confidence, score, box, mask, polygon,
                        #   spans)] cranial -> caudal; level in L1..L5, S1, or T12/L6
    result.rejected     # [Rejection(index, reason)]: implant_metal, implant_elongated,
                        #   duplicate_of_<i>, merged_bodies, too_small, too_large, off_column,
                        #   not_in_column, thoracic_above_T11, sacral_segment...
    result.flags        # dict: missing_levels, gap_levels, fov_cut_top, fov_cut_bottom,
                        #   transitional_suspected, implants_present, fused_block,
                        #   low_confidence, facing, anchor, ... (``flag_names`` lists raised ones)
    result.measurements # dict: lordosis_deg, sacral_slope_deg, segmental_angles_deg,
                        #   disc_angles_deg, body_heights, listhesis {upper level: percent,
                        #   grade, ...}, endplates
    result.to_json()    # JSON-serialisable dict (masks left out)

``Candidate``: ``mask`` (bool HxW) and/or ``polygon``, ``box`` XYXY, ``score``, optional
``class_scores`` (6 L1..S1 probabilities) or ``class_id`` (0..5). Class scores are evidence,
not truth: the column is labelled as one decision (levels consecutive, spacing-aware gaps,
anchored on the sacrum), so a single-class "vertebra" detector works from anatomy alone.
Coordinates are image pixels; the patient may face either way and the film may be rotated.
"""

from lumbarseg.postprocess.api import label_vertebrae
from lumbarseg.postprocess.candidates import Candidate, candidates_from_instances
from lumbarseg.postprocess.config import LabellerConfig
from lumbarseg.postprocess.flags import flag_names
from lumbarseg.postprocess.measurements import meyerding_grade
from lumbarseg.postprocess.result import LabelledVertebra, LabellingResult, Rejection

__all__ = [
    "Candidate",
    "LabelledVertebra",
    "LabellerConfig",
    "LabellingResult",
    "Rejection",
    "candidates_from_instances",
    "flag_names",
    "label_vertebrae",
    "meyerding_grade",
]

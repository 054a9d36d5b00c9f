"""``lumbarseg evaluate``: score saved COCO predictions against a COCO ground-truth file.

Runs through the same accumulator as training-time evaluation, so the numbers match.
"""

from __future__ import annotations

import argparse

from lumbarseg.evaluation import EvaluationSettings, evaluate_coco_files, format_markdown
from lumbarseg.evaluation.report import RESULTS_STEM, write_results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictions", required=True, help="COCO results JSON (RLE or polygons)")
    parser.add_argument("--gt", required=True, help="COCO instances JSON (categories L1..S1)")
    parser.add_argument("--out", help=f"folder for {RESULTS_STEM}.json and {RESULTS_STEM}.md")
    parser.add_argument(
        "--score-threshold",
        type=float,
        default=EvaluationSettings.score_threshold,
        help="predictions whose detection score (the results' detection_score, else "
        "score) is below it are left out of label maps and recognition (default %(default)s)",
    )
    parser.add_argument(
        "--iou-threshold",
        type=float,
        default=EvaluationSettings.iou_threshold,
        help="mask IoU needed to detect/recognise a vertebra (default %(default)s)",
    )
    parser.add_argument(
        "--centroid-mm",
        type=float,
        default=EvaluationSettings.centroid_mm,
        help="VerSe-style centroid rule distance where the GT gives pixel spacing; "
        "0 turns it off (default %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    settings = EvaluationSettings(
        score_threshold=args.score_threshold,
        iou_threshold=args.iou_threshold,
        centroid_mm=args.centroid_mm or None,
    )
    results = evaluate_coco_files(args.predictions, args.gt, settings)
    if args.out:
        write_results(results, args.out, RESULTS_STEM)
    print(format_markdown(results), end="")
    return 0

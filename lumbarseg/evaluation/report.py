"""Evaluation results as JSON and as a Markdown table, written atomically."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

from lumbarseg.io.atomic import write_json_atomic, write_text_atomic
from lumbarseg.levels import LEVELS

RESULTS_STEM = "lumbarseg_evaluation"

_OVERALL = (
    ("segm", "AP", "mask AP"),
    ("segm", "AP50", "mask AP50"),
    ("segm", "AP75", "mask AP75"),
    ("bbox", "AP", "box AP"),
    ("bbox", "AP50", "box AP50"),
    ("labelmap", "pixel_acc", "pixel accuracy"),
    ("labelmap", "mean_acc", "mean accuracy"),
    ("labelmap", "mean_iou", "mean IoU"),
    ("labelmap", "fw_iou", "frequency-weighted IoU"),
    ("levels", "dice_mean", "Dice (mean over levels)"),
    ("levels", "detection", "detection rate (mask IoU >= 0.5)"),
    ("levels", "recognition", "recognition rate (right level, mask IoU >= 0.5)"),
    ("levels", "recognition_centroid", "recognition rate (right level, centroid rule)"),
    ("levels", "sequence_accuracy", "images with the whole label sequence right"),
)
_PER_LEVEL = (
    ("segm", "AP", "mask AP"),
    ("bbox", "AP", "box AP"),
    ("labelmap", "IoU", "IoU"),
    ("levels", "dice", "Dice"),
    ("levels", "detection", "detected"),
    ("levels", "recognition", "recognised"),
    ("levels", "recognition_centroid", "recognised (centroid)"),
)


def _fmt(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}"


def format_markdown(results: Mapping[str, Mapping[str, float]]) -> str:
    """Two Markdown tables (overall, per level); every value in percent."""
    images = results.get("levels", {}).get("images", float("nan"))
    lines = [f"Evaluation on {_fmt(images).split('.')[0]} images (values in %).", ""]
    lines += ["| metric | value |", "|---|---:|"]
    for task, key, label in _OVERALL:
        if key in results.get(task, {}):
            lines.append(f"| {label} | {_fmt(results[task][key])} |")
    columns = [c for c in _PER_LEVEL if f"{c[1]}-{LEVELS[0]}" in results.get(c[0], {})]
    lines += ["", "| level | " + " | ".join(c[2] for c in columns) + " | GT vertebrae |"]
    lines.append("|---|" + "---:|" * (len(columns) + 1))
    for level in LEVELS:
        cells = [_fmt(results[task][f"{key}-{level}"]) for task, key, _ in columns]
        count = results.get("levels", {}).get(f"gt-{level}", float("nan"))
        lines.append(f"| {level} | " + " | ".join(cells) + f" | {_fmt(count).split('.')[0]} |")
    return "\n".join(lines) + "\n"


def _json_safe(value):
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None  # JSON has no NaN; null means "undefined here"
    return value


def write_results(
    results: Mapping, out_dir: str | os.PathLike, stem: str = RESULTS_STEM
) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` into ``out_dir``; returns both paths."""
    out = Path(out_dir)
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    write_json_atomic(json_path, _json_safe(results), indent=2)
    write_text_atomic(md_path, format_markdown(results))
    return json_path, md_path

#!/usr/bin/env python
"""Instance vs semantic segmentation on the same data: the reference study's comparison.

Trains each config on the demo's phantom split (or any converted dataset folder) and
evaluates it on the test split with the same evaluator, then prints one Markdown table.

    python tools/compare_models.py --data output/demo/coco --out output/compare --max-iter 600
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from detectron2.data import DatasetCatalog
from detectron2.utils.logger import setup_logger

from lumbarseg.config import load_config
from lumbarseg.config.defaults import schedule_overrides
from lumbarseg.data.register import register_converted
from lumbarseg.engine import Trainer
from lumbarseg.engine.hooks import ConsoleProgress
from lumbarseg.io.atomic import write_json_atomic, write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "Mask R-CNN": "configs/cpu/mask_rcnn_R_18_FPN.yaml",
    "PointRend": "configs/cpu/pointrend_R_18_FPN.yaml",
    "Semantic FPN": "configs/cpu/semantic_R_18_FPN.yaml",
}
COLUMNS = [
    ("mask AP", "segm", "AP"), ("mask AP50", "segm", "AP50"),
    ("pixel acc", "labelmap", "pixel_acc"), ("mean acc", "labelmap", "mean_acc"),
    ("mean IoU", "labelmap", "mean_iou"), ("fw IoU", "labelmap", "fw_iou"),
    ("Dice", "levels", "dice_mean"), ("recognition", "levels", "recognition"),
    ("sequence right", "levels", "sequence_accuracy"),
]


def train_and_test(name: str, config: str, prefix: str, out: Path, max_iter: int) -> dict:
    opts = ["DATASETS.TRAIN", f'("{prefix}_train",)', "DATASETS.TEST", f'("{prefix}_test",)',
            "OUTPUT_DIR", str(out), *schedule_overrides(max_iter)]
    cfg = load_config(ROOT / config, opts)
    setup_logger(str(out), name="detectron2", abbrev_name="d2", configure_stdout=False)
    print(f"{name}: training {max_iter} iterations ({config})", flush=True)
    trainer = Trainer(cfg)
    trainer.register_hooks([ConsoleProgress(100)])
    trainer.resume_or_load(resume=False)
    start = time.perf_counter()
    results = trainer.train()  # the final EvalHook runs on DATASETS.TEST = the test split
    results = {k: dict(v) for k, v in results.items()}
    results["train_minutes"] = (time.perf_counter() - start) / 60
    return results


def markdown(table: dict[str, dict]) -> str:
    head = ["model", *[c[0] for c in COLUMNS], "train min"]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for model, res in table.items():
        cells = []
        for _, section, key in COLUMNS:
            value = res.get(section, {}).get(key)
            cells.append("n/a" if value is None or math.isnan(value) else f"{value:.1f}")
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {res['train_minutes']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="output/demo/coco", help="converted dataset folder")
    parser.add_argument("--out", default="output/compare")
    parser.add_argument("--max-iter", type=int, default=600)
    parser.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args()

    prefix = "compare"
    if f"{prefix}_train" not in DatasetCatalog.list():
        register_converted(args.data, prefix)
    n_train = len(DatasetCatalog.get(f"{prefix}_train"))
    n_test = len(DatasetCatalog.get(f"{prefix}_test"))
    out = Path(args.out)
    table = {}
    for model in args.models:
        folder = out / model.lower().replace(" ", "_").replace("-", "")
        table[model] = train_and_test(model, CONFIGS[model], prefix, folder, args.max_iter)
    text = (f"{args.max_iter} iterations each, {n_train} training / {n_test} test images "
            f"({args.data}); values in %.\n\n" + markdown(table))
    write_json_atomic(out / "comparison.json", table, indent=2)
    write_text_atomic(out / "comparison.md", text)
    print(text, end="")


if __name__ == "__main__":
    main()

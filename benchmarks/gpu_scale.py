#!/usr/bin/env python
"""GPU-scale training: R50-FPN Mask R-CNN, PointRend and Semantic FPN from scratch on a larger
phantom set, each scored in-style and out-of-style (one style family never trained on).

Prepared for a session with one CUDA device; NOT run yet (no device was lent when it was
written). Sized for about 12 minutes on one H200 in total (an estimate, not a measurement):
data ~1 min with 16 workers, then each model ``--max-iter`` iterations at batch 16.

    python benchmarks/gpu_scale.py --out output/gpu_scale --n 3000 --size 768 --max-iter 1500

Prints (and writes ``gpu_scale.md`` / ``gpu_scale.json``): s/iter, and per model and test set
mask AP, mean IoU of the label map, detection and recognition.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "Mask R-CNN R50-FPN": "configs/mask_rcnn_R_50_FPN.yaml",
    "PointRend R50-FPN": "configs/pointrend_R_50_FPN.yaml",
    "Semantic FPN R50": "configs/semantic_R_50_FPN.yaml",
}
COLUMNS = [("mask AP", "segm", "AP"), ("mean IoU", "labelmap", "mean_iou"),
           ("detection", "levels", "detection"), ("recognition", "levels", "recognition")]


def prepare(out: Path, n: int, size: int, hold_out: str, n_oos: int, workers: int) -> None:
    """In-style phantoms (split by patient) and an out-of-style set, both registered."""
    from lumbarseg.data.convert.pipeline import convert_dataset
    from lumbarseg.data.register import register_converted
    from lumbarseg.phantom import PhantomConfig, generate_dataset
    from lumbarseg.phantom.styles import STYLE_FAMILIES

    styles = tuple(s for s in STYLE_FAMILIES if s != hold_out)
    if not (out / "coco" / "annotations_test.json").is_file():
        ann = generate_dataset(out / "phantom", n, 0, workers=workers,
                               config=PhantomConfig(size=size, styles=styles))
        convert_dataset("coco", [ann], out / "coco", split=(0.8, 0.05, 0.15), seed=0,
                        overwrite=True)
    if not (out / "oos_coco" / "annotations.json").is_file():
        ann = generate_dataset(out / "oos_phantom", n_oos, 1000, workers=workers,
                               config=PhantomConfig(size=512, styles=(hold_out,)))
        convert_dataset("coco", [ann], out / "oos_coco", overwrite=True)
    register_converted(out / "coco", "gpu")
    register_converted(out / "oos_coco", "gpu_oos")  # the whole folder, no split


def train_one(name: str, config: str, out: Path, max_iter: int) -> dict:
    from detectron2.utils.logger import setup_logger

    from lumbarseg.config import load_config
    from lumbarseg.config.defaults import schedule_overrides
    from lumbarseg.engine import Trainer

    opts = ["DATASETS.TRAIN", '("gpu_train",)', "DATASETS.TEST", '("gpu_test", "gpu_oos")',
            "OUTPUT_DIR", str(out), "MODEL.DEVICE", "cuda",
            # From scratch: no download on the device; GroupNorm trains without pretraining.
            "MODEL.WEIGHTS", "", "MODEL.BACKBONE.FREEZE_AT", "0", "MODEL.RESNETS.NORM", "GN",
            "MODEL.RESNETS.STRIDE_IN_1X1", "False", "MODEL.FPN.NORM", "GN",
            "SOLVER.IMS_PER_BATCH", "16", "SOLVER.BASE_LR", "0.02", "SOLVER.WARMUP_ITERS", "200",
            "INPUT.MIN_SIZE_TRAIN", "(512, 576, 640, 704, 768)", "INPUT.MIN_SIZE_TEST", "640",
            "DATALOADER.NUM_WORKERS", "12", "TEST.EVAL_PERIOD", "0",
            *schedule_overrides(max_iter)]
    cfg = load_config(ROOT / config, opts)
    setup_logger(str(out), name="detectron2", abbrev_name="d2")
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    start = time.perf_counter()
    results = trainer.train()
    times = [v for v, _ in trainer.storage.history("time").values()][5:]
    return {"results": {k: {t: dict(m) for t, m in v.items()} for k, v in results.items()},
            "s_per_iter": statistics.median(times) if times else float("nan"),
            "train_min": (time.perf_counter() - start) / 60}


def markdown(table: dict[str, dict]) -> str:
    head = ["model", "test set", *[c[0] for c in COLUMNS], "s/iter", "train min"]
    lines = ["| " + " | ".join(head) + " |", "|---|---" + "|---:" * (len(head) - 2) + "|"]
    for model, entry in table.items():
        for label, key in (("in-style", "gpu_test"), ("out-of-style", "gpu_oos")):
            res = entry["results"].get(key, {})
            cells = [f"{res.get(sec, {}).get(k, float('nan')):.1f}" for _, sec, k in COLUMNS]
            lines.append(f"| {model} | {label} | " + " | ".join(cells)
                         + f" | {entry['s_per_iter']:.3f} | {entry['train_min']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="output/gpu_scale")
    parser.add_argument("--n", type=int, default=3000, help="in-style phantoms")
    parser.add_argument("--size", type=int, default=768)
    parser.add_argument("--n-oos", type=int, default=200, help="out-of-style phantoms")
    parser.add_argument("--hold-out", default="flat")
    parser.add_argument("--max-iter", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args()

    import torch

    from lumbarseg.io.atomic import write_json_atomic, write_text_atomic

    if not torch.cuda.is_available():
        raise SystemExit("gpu_scale: no CUDA device; this script is for a GPU session")
    out = Path(args.out)
    start = time.perf_counter()
    prepare(out, args.n, args.size, args.hold_out, args.n_oos, args.workers)
    print(f"data ready in {time.perf_counter() - start:.0f} s", flush=True)
    table = {}
    for model in args.models:
        folder = out / model.split()[0].lower().replace("-", "")
        table[model] = train_one(model, CONFIGS[model], folder, args.max_iter)
        write_json_atomic(out / "gpu_scale.json", table, indent=2)  # partial results survive
    text = (f"{args.n} phantoms at {args.size} px (styles without {args.hold_out!r}), "
            f"{args.max_iter} iterations each from scratch, batch 16; out-of-style: "
            f"{args.n_oos} {args.hold_out!r} phantoms at 512 px.\n\n" + markdown(table))
    write_text_atomic(out / "gpu_scale.md", text)
    print(text, end="")


if __name__ == "__main__":
    main()

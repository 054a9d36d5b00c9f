"""Data loading vs training: what the augmentation costs per iteration, side by side in one run.

Times the training mapper (DICOM read + every augmentation) with the augmentation on and off,
alternating rounds so machine load hits both alike, then trains a few iterations of the same
config to get the iteration time and Detectron2's own data_time. Reported: mapper CPU ms per
image, that cost per batch as a share of one iteration, and data_time's share (the time the
trainer actually waited for data).

Usage: python benchmarks/bench_data.py [--config configs/cpu/mask_rcnn_R_18_FPN.yaml]
       [--n 24] [--images 48] [--iters 12]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from detectron2.data import DatasetCatalog

from lumbarseg.config import load_config
from lumbarseg.data.convert.pipeline import convert_dataset
from lumbarseg.data.mapper import RadiographDatasetMapper
from lumbarseg.data.register import register_lumbarseg_dataset
from lumbarseg.engine import Trainer
from lumbarseg.phantom import PhantomConfig, generate_dataset

ROOT = Path(__file__).resolve().parents[1]


def mapper_cpu_ms(cfg, records: list[dict], images: int) -> float:
    mapper = RadiographDatasetMapper(cfg, is_train=True)
    np.random.seed(0)
    start = time.process_time()
    for i in range(images):
        mapper(records[i % len(records)])
    return (time.process_time() - start) / images * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs/cpu/mask_rcnn_R_18_FPN.yaml"))
    parser.add_argument("--n", type=int, default=24, help="phantoms to generate")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--images", type=int, default=48, help="mapper calls per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iters", type=int, default=12)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        ann = generate_dataset(Path(tmp) / "phantom", args.n, 3,
                               config=PhantomConfig(size=args.size))
        convert_dataset("coco", [ann], Path(tmp) / "coco")
        if "bench_data" not in DatasetCatalog.list():
            register_lumbarseg_dataset("bench_data", Path(tmp) / "coco" / "annotations.json")
        records = DatasetCatalog.get("bench_data")
        cfg = load_config(args.config, ["DATASETS.TRAIN", '("bench_data",)', "DATASETS.TEST",
                                        "()", "OUTPUT_DIR", str(Path(tmp) / "out"),
                                        "SOLVER.MAX_ITER", str(args.iters + 3),
                                        "SOLVER.CHECKPOINT_PERIOD", str(10**9)])
        off = cfg.clone()
        off.LUMBARSEG.AUG.ENABLED = False
        on_ms, off_ms = [], []
        for _ in range(args.rounds):
            on_ms.append(mapper_cpu_ms(cfg, records, args.images))
            off_ms.append(mapper_cpu_ms(off, records, args.images))
        trainer = Trainer(cfg)
        trainer.resume_or_load(resume=False)
        trainer.train()
        times = [v for v, _ in trainer.storage.history("time").values()][3:]
        data = [v for v, _ in trainer.storage.history("data_time").values()][3:]
    per_iter = statistics.median(times)
    batch = cfg.SOLVER.IMS_PER_BATCH
    on, off_ = statistics.median(on_ms), statistics.median(off_ms)
    print(f"config {Path(args.config).name}, {args.size} px phantoms, batch {batch}, "
          f"{args.iters} iterations")
    print(f"  mapper, augmentation on : {on:6.1f} ms CPU/image")
    print(f"  mapper, augmentation off: {off_:6.1f} ms CPU/image (read + resize only)")
    print(f"  training: {per_iter:.3f} s/iter (median)")
    print(f"  mapper CPU per batch = {100 * on * batch / 1000 / per_iter:.1f} % of an iteration "
          f"(augmentation alone {100 * (on - off_) * batch / 1000 / per_iter:.1f} %)")
    print(f"  trainer data_time    = {100 * statistics.median(data) / per_iter:.1f} % of an "
          "iteration (time waiting for the loader)")


if __name__ == "__main__":
    main()

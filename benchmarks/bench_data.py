"""Data loading vs training: what the augmentation costs per iteration, side by side in one run.

Times the training mapper (DICOM read + every augmentation) with the augmentation on and off,
alternating rounds so machine load hits both alike, first read and cached, then trains a few
iterations of the same config for the iteration time and Detectron2's own data_time. CPU
times, not wall times: on a 2-core machine the loader's CPU is taken from the trainer's, and
CPU time is what survives a busy shared machine. Reported: mapper CPU ms per image, that cost
per batch as a share of the trainer's CPU per iteration, and data_time's share of an
iteration (the time the trainer actually waited for data).

Usage: python benchmarks/bench_data.py [--config configs/cpu/mask_rcnn_R_18_FPN.yaml]
       [--n 24] [--iters 12] [--recipe-images 300 --recipe-iters 400]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from detectron2.data import DatasetCatalog

from lumbarseg.config import load_config
from lumbarseg.data.convert.pipeline import convert_dataset
from lumbarseg.data.mapper import RadiographDatasetMapper
from lumbarseg.data.register import register_lumbarseg_dataset
from lumbarseg.engine import Trainer
from lumbarseg.phantom import PhantomConfig, generate_dataset

ROOT = Path(__file__).resolve().parents[1]


def mapper_cpu_ms(cfg, records: list[dict]) -> tuple[float, float]:
    """CPU ms per image: first pass over the records (decoding), second pass (cached)."""
    mapper = RadiographDatasetMapper(cfg, is_train=True)
    np.random.seed(0)
    out = []
    for _ in range(2):
        start = time.process_time()
        for record in records:
            mapper(record)
        out.append((time.process_time() - start) / len(records) * 1000)
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs/cpu/mask_rcnn_R_18_FPN.yaml"))
    parser.add_argument("--n", type=int, default=24, help="phantoms to generate")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--recipe-images", type=int, default=300, help="training images")
    parser.add_argument("--recipe-iters", type=int, default=400)
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
            on_ms.append(mapper_cpu_ms(cfg, records))
            off_ms.append(mapper_cpu_ms(off, records))
        trainer = Trainer(cfg)
        trainer.resume_or_load(resume=False)
        cpu = time.process_time()
        trainer.train()
        cpu = (time.process_time() - cpu) / (args.iters + 3)
        times = [v for v, _ in trainer.storage.history("time").values()][3:]
        data = [v for v, _ in trainer.storage.history("data_time").values()][3:]
    per_iter = statistics.median(times)
    batch = cfg.SOLVER.IMS_PER_BATCH
    cold, warm = (statistics.median(r[i] for r in on_ms) for i in (0, 1))
    plain = statistics.median(r[0] for r in off_ms)
    # Each image is seen epochs = iters * batch / images times; only the first read decodes.
    reuse = args.recipe_iters * batch / args.recipe_images
    amortised = (cold + (reuse - 1) * warm) / reuse if reuse > 1 else cold
    print(f"config {Path(args.config).name}, {args.size} px phantoms, batch {batch}, "
          f"{args.iters} iterations")
    print(f"  mapper, augmentation on : {cold:6.1f} ms CPU/image first read, {warm:6.1f} ms "
          f"cached; {amortised:.1f} ms amortised over {reuse:.1f} views per image")
    print(f"  mapper, augmentation off: {plain:6.1f} ms CPU/image (decode + resize only)")
    print(f"  training: {per_iter:.3f} s/iter (median), {cpu:.2f} s CPU/iter of the trainer "
          f"process ({torch.get_num_threads()} torch threads)")
    share = amortised * batch / 1000 / cpu
    print(f"  mapper CPU per batch = {100 * share:.1f} % of the trainer's CPU per iteration")
    print(f"  trainer data_time    = {100 * statistics.median(data) / per_iter:.1f} % of an "
          "iteration (time waiting for the loader)")


if __name__ == "__main__":
    main()

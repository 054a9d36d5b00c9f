"""Training iteration time and data-loading share: lumbarseg's Trainer vs stock DefaultTrainer.

Same config, same phantom data, same process, alternating A/B rounds so machine load hits
both alike. The project's trainer adds radiograph augmentation and reads through
``load_network_input``; it must not be slower than Detectron2's own.

Usage: python benchmarks/bench_train.py [--config configs/cpu/mask_rcnn_R_18_FPN.yaml]
       [--n 48] [--iters 15] [--rounds 2] [--data DIR_OF_CONVERTED_COCO]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Hashable
from pathlib import Path

import torch
from detectron2.data import DatasetCatalog
from detectron2.engine import DefaultTrainer

from lumbarseg.config import load_config
from lumbarseg.data.convert.pipeline import convert_dataset
from lumbarseg.data.register import register_lumbarseg_dataset
from lumbarseg.engine import Trainer
from lumbarseg.phantom import PhantomConfig, generate_dataset

ROOT = Path(__file__).resolve().parents[1]


def phantom_coco(workdir: Path, n: int) -> Path:
    annotations = generate_dataset(workdir / "phantom", n, seed=7, config=PhantomConfig(size=384))
    convert_dataset("coco", [annotations], workdir / "coco")
    return workdir / "coco" / "annotations.json"


def time_trainer(trainer_cls, cfg, iters: int) -> tuple[float, float]:
    """Median seconds per iteration and median data-loading seconds (warm-up dropped)."""
    trainer = trainer_cls(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    storage = trainer.storage
    times = [v for v, _ in storage.history("time").values()][2:]
    data = [v for v, _ in storage.history("data_time").values()][2:]
    return statistics.median(times), statistics.median(data)


def parse_bench_args(description: str) -> argparse.Namespace:
    """The options the trainer benchmarks share."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", default=str(ROOT / "configs/cpu/mask_rcnn_R_18_FPN.yaml"))
    parser.add_argument("--n", type=int, default=48, help="phantom images to generate")
    parser.add_argument("--iters", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data", help="converted annotations.json (default: new phantoms)")
    return parser.parse_args()


def bench_config(args: argparse.Namespace, dataset: str, workdir: Path):
    """The config under test, training ``args.iters`` (+2 warm-up) iterations on new phantoms
    or ``--data``, without checkpoints or evaluation."""
    data = Path(args.data) if args.data else phantom_coco(workdir, args.n)
    if dataset not in DatasetCatalog.list():
        register_lumbarseg_dataset(dataset, data)
    cfg = load_config(args.config)
    cfg.DATASETS.TRAIN = (dataset,)
    cfg.DATASETS.TEST = ()
    cfg.SOLVER.MAX_ITER = args.iters + 2
    cfg.SOLVER.CHECKPOINT_PERIOD = 10**9
    cfg.OUTPUT_DIR = str(workdir / "out")
    return cfg


def time_variants(shipped, variants: dict[Hashable, dict[str, object]], workdir: Path,
                  iters: int, rounds: int) -> dict[Hashable, float]:
    """Median s/iter of lumbarseg's Trainer for each variant of ``shipped`` (config keys ->
    values), the variants alternating round by round so machine load hits all alike."""
    times: dict[Hashable, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, overrides in variants.items():
            cfg = shipped.clone()
            cfg.merge_from_list([x for kv in overrides.items() for x in kv])
            cfg.OUTPUT_DIR = str(workdir / f"out_{name}")
            times[name].append(time_trainer(Trainer, cfg, iters)[0])
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    args = parse_bench_args(__doc__.split("\n")[0])
    with tempfile.TemporaryDirectory() as tmp:
        cfg = bench_config(args, "bench_train", Path(tmp))
        results: dict[str, list[tuple[float, float]]] = {"DefaultTrainer": [], "lumbarseg": []}
        for _ in range(args.rounds):
            for name, cls in (("DefaultTrainer", DefaultTrainer), ("lumbarseg", Trainer)):
                results[name].append(time_trainer(cls, cfg, args.iters))
    print(f"config {Path(args.config).name}, batch {cfg.SOLVER.IMS_PER_BATCH}, {args.iters} "
          f"iterations x {args.rounds} rounds, torch threads {torch.get_num_threads()}")
    summary = {}
    for name, rounds in results.items():
        per_iter = statistics.median(r[0] for r in rounds)
        data_share = statistics.median(r[1] / r[0] for r in rounds)
        summary[name] = per_iter
        print(f"  {name:<15} {per_iter:.3f} s/iter, data loading {100 * data_share:.1f} % of it")
    ratio = summary["DefaultTrainer"] / summary["lumbarseg"]
    print(f"speed ratio lumbarseg vs DefaultTrainer: {ratio:.2f}x (>= 1 means not slower)")


if __name__ == "__main__":
    main()

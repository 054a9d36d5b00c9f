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
import time
from collections.abc import Hashable
from pathlib import Path

import torch
from detectron2.data import DatasetCatalog
from detectron2.engine import DefaultTrainer
from detectron2.utils.env import seed_all_rng
from detectron2.utils.events import EventStorage

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


def parse_bench_args(description: str, overrides: bool = False) -> argparse.Namespace:
    """The options the trainer benchmarks share (and config overrides KEY VALUE ...)."""
    parser = argparse.ArgumentParser(description=description)
    if overrides:
        parser.add_argument("opts", nargs="+", help="config overrides KEY VALUE ...")
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


def _prefetched_variant(cfg, batches: int):
    """The variant's model and optimizer and ``batches`` batches from its own data loader,
    read in the main process from the same seed, so every variant sees the same films."""
    cfg = cfg.clone()
    cfg.DATALOADER.NUM_WORKERS = 0
    seed_all_rng(0)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    loader = iter(trainer.data_loader)
    return trainer.model, trainer.optimizer, [next(loader) for _ in range(batches)]


def time_variants(shipped, variants: dict[Hashable, dict[str, object]], workdir: Path,
                  iters: int, rounds: int, warmup: int = 3) -> dict[Hashable, float]:
    """Mean s/iter of one training step (forward, backward, optimizer) for each variant of
    ``shipped`` (config keys -> values).

    The variants take turns step by step, their order rotating, on batches read beforehand:
    these machines' speed drifts by a fifth within minutes (2026-12-08: one config read
    0.54-0.74 s/iter in alternating rounds of 30 iterations, and two identical configs 0.97x
    apart when interleaved step by step), so only steps taken side by side compare.
    Data loading is left out: ``bench_data.py`` and this file's main measure it."""
    steps = iters * rounds
    models = {}
    for name, overrides in variants.items():
        cfg = shipped.clone()
        cfg.merge_from_list([x for kv in overrides.items() for x in kv])
        cfg.OUTPUT_DIR = str(workdir / f"out_{name}")
        models[name] = _prefetched_variant(cfg, warmup + steps)
    totals = dict.fromkeys(variants, 0.0)
    names = list(variants)
    with EventStorage(0):  # the losses log to it, as inside Detectron2's trainer
        for step in range(warmup + steps):
            turn = step % len(names)
            for name in names[turn:] + names[:turn]:
                model, optimizer, batches = models[name]
                start = time.perf_counter()
                loss = sum(model(batches[step]).values())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if step >= warmup:
                    totals[name] += time.perf_counter() - start
    return {name: total / steps for name, total in totals.items()}


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

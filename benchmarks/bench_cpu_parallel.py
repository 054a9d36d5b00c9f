"""CPU training: one process on all cores (with or without a loader process) vs one
single-threaded process per core.

Trains the demo recipe (its config, batch and phantoms) for a few iterations
each way through the demo's own training call, alternating rounds so machine load hits both
alike, and reports Detectron2's median seconds per iteration (warm-up dropped). The demo
trains in one process; this shows whether more would pay on this machine.

Usage: python benchmarks/bench_cpu_parallel.py [--n 400 | --data output/demo/coco] [--iters 60]
       [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from lumbarseg.config import load_config
from lumbarseg.demo import DemoOptions, prepare_data, train_or_reuse
from lumbarseg.engine.cpu_parallel import available_cores


def seconds_per_iteration(options: DemoOptions, coco: Path) -> float:
    train_or_reuse(options, coco, Path(options.out))
    logged = [json.loads(line) for line in
              (Path(options.out) / "model" / "metrics.json").read_text().splitlines()]
    # Detectron2 logs a 20-iteration median every 20 iterations; the first holds the warm-up.
    times = [m["time"] for m in logged if "time" in m][1:]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=DemoOptions().n_images,
                        help="phantom images to generate (default: the demo's)")
    parser.add_argument("--data", help="a converted COCO folder to train on instead "
                                       "(e.g. output/demo/coco)")
    parser.add_argument("--iters", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    cores = available_cores()
    with tempfile.TemporaryDirectory() as tmp:
        coco = Path(args.data) if args.data else prepare_data(
            DemoOptions(n_images=args.n), Path(tmp))["coco"]
        batch = load_config(DemoOptions().config).SOLVER.IMS_PER_BATCH
        processes = max(n for n in range(1, min(cores, batch) + 1) if batch % n == 0)
        # (name, training processes, config overrides): the demo's recipe first (one process,
        # decoding and augmentation in a loader process beside it), then without the loader,
        # then one single-threaded process per core, each loading its own images.
        in_process = ("DATALOADER.NUM_WORKERS", "0")
        ways = [("1 process + loader", 1, ()), ("1 process", 1, in_process),
                (f"{processes} processes", processes, in_process)]
        results: dict[str, list[float]] = {name: [] for name, _, _ in ways}
        for round_index in range(args.rounds):
            for way, (name, count, opts) in enumerate(ways):
                options = DemoOptions(out=str(Path(tmp) / f"{round_index}_{way}"),
                                      n_images=args.n, max_iter=args.iters, retrain=True,
                                      train_processes=count, opts=opts)
                results[name].append(seconds_per_iteration(options, coco))
    print(f"demo recipe, batch {batch}, {cores} cores, {args.iters} iterations x "
          f"{args.rounds} rounds")
    summary = {name: statistics.median(values) for name, values in results.items()}
    for name, per_iter in summary.items():
        print(f"  {name:<12} {per_iter:.3f} s/iter  (rounds: "
              + ", ".join(f"{v:.3f}" for v in results[name]) + ")")
    base = summary[ways[0][0]]
    for name in list(summary)[1:]:
        print(f"speed ratio {name} vs {ways[0][0]}: {base / summary[name]:.2f}x")


if __name__ == "__main__":
    main()

"""CPU training: one process on all cores vs one single-threaded process per core.

Trains the demo recipe (its config, batch and phantoms, fewer of them) for a few iterations
each way through the demo's own training call, alternating rounds so machine load hits both
alike, and reports Detectron2's median seconds per iteration (warm-up dropped). The demo
trains with ``cpu_train_processes`` processes; this shows what that buys on this machine.

Usage: python benchmarks/bench_cpu_parallel.py [--n 40] [--iters 60] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from lumbarseg.config import load_config
from lumbarseg.demo import DemoOptions, prepare_data, train_or_reuse
from lumbarseg.engine.cpu_parallel import available_cores, cpu_train_processes


def seconds_per_iteration(options: DemoOptions, coco: Path) -> float:
    train_or_reuse(options, coco, Path(options.out))
    logged = [json.loads(line) for line in
              (Path(options.out) / "model" / "metrics.json").read_text().splitlines()]
    # Detectron2 logs a 20-iteration median every 20 iterations; the first holds the warm-up.
    times = [m["time"] for m in logged if "time" in m][1:]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=40, help="phantom images to generate")
    parser.add_argument("--iters", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    cores = available_cores()
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare_data(DemoOptions(n_images=args.n), Path(tmp))
        batch = load_config(DemoOptions().config).SOLVER.IMS_PER_BATCH
        ways = {"1 process": 1, f"{cpu_train_processes(batch, cores)} processes":
                cpu_train_processes(batch, cores)}
        results: dict[str, list[float]] = {name: [] for name in ways}
        for round_index in range(args.rounds):
            for name, processes in ways.items():
                options = DemoOptions(out=str(Path(tmp) / f"{round_index}_{processes}"),
                                      n_images=args.n, max_iter=args.iters, retrain=True,
                                      train_processes=processes)
                results[name].append(seconds_per_iteration(options, data["coco"]))
    print(f"demo recipe, batch {batch}, {cores} cores, {args.iters} iterations x "
          f"{args.rounds} rounds")
    summary = {name: statistics.median(values) for name, values in results.items()}
    for name, per_iter in summary.items():
        print(f"  {name:<12} {per_iter:.3f} s/iter  (rounds: "
              + ", ".join(f"{v:.3f}" for v in results[name]) + ")")
    single, parallel = summary.values()
    print(f"speed ratio processes per core vs one process: {single / parallel:.2f}x")


if __name__ == "__main__":
    main()

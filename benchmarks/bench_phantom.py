"""Phantom generation speed: images/s for render-only and full dataset writing (DICOM + COCO).

Usage: python benchmarks/bench_phantom.py [--n 200] [--size 1024] [--workers 1 2]
The issue's target: 200 images of 1024 px well under a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from lumbarseg.phantom import PhantomConfig, generate_dataset, render_phantom


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--render-n", type=int, default=20, help="images for the render-only run")
    args = parser.parse_args()

    config = PhantomConfig(size=args.size)
    render_phantom(0, config)  # warm imports
    start, cpu = time.perf_counter(), time.process_time()
    for seed in range(args.render_n):
        render_phantom(seed, config)
    per_image = (time.perf_counter() - start) / args.render_n
    per_cpu = (time.process_time() - cpu) / args.render_n
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine)")
    print(f"render only, {args.size} px, 1 process: {per_image * 1000:.0f} ms/image wall, "
          f"{per_cpu * 1000:.0f} ms CPU ({1 / per_image:.1f} images/s)")
    results = {}
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            generate_dataset(tmp, args.n, seed=0, config=config, workers=workers)
            elapsed = time.perf_counter() - start
        results[workers] = elapsed
        print(f"generate_dataset n={args.n} size={args.size} workers={workers}: {elapsed:.1f} s "
              f"({args.n / elapsed:.1f} images/s)")
    if len(results) > 1:
        base = results[min(results)]
        for workers, elapsed in sorted(results.items()):
            print(f"  speed-up workers={workers} vs {min(results)}: {base / elapsed:.2f}x")


if __name__ == "__main__":
    main()

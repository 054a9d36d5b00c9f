"""What a config change costs one training iteration of the CPU recipe.

The shipped config against the same config with the given overrides, lumbarseg's trainer's
steps on the same phantoms, the two taking turns step by step (``time_variants``): the
question a recipe change asks before three seeds are trained to see whether it reads as well.

Usage: python benchmarks/bench_config_change.py [--config configs/cpu/mask_rcnn_R_18_FPN.yaml]
       [--n 48] [--iters 15] [--rounds 2] [--data DIR_OF_CONVERTED_COCO] KEY VALUE [KEY VALUE ...]
e.g. the input sizes and RPN candidates of the demo recipe before 2026-12-08:
       python benchmarks/bench_config_change.py INPUT.MIN_SIZE_TRAIN "(224, 256, 288)" \\
           MODEL.RPN.PRE_NMS_TOPK_TRAIN 1000
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from bench_train import bench_config, parse_bench_args, time_variants


def main() -> None:
    args = parse_bench_args(__doc__.split("\n")[0], overrides=True)
    if len(args.opts) % 2:
        raise SystemExit(f"overrides come in KEY VALUE pairs: {' '.join(args.opts)}")
    changed = dict(zip(args.opts[::2], args.opts[1::2], strict=True))
    with tempfile.TemporaryDirectory() as tmp:
        shipped = bench_config(args, "bench_config_change", Path(tmp))
        per_iter = time_variants(shipped, {"shipped": {}, "changed": changed}, Path(tmp),
                                 args.iters, args.rounds)
    print(f"config {Path(args.config).name}, batch {shipped.SOLVER.IMS_PER_BATCH}, "
          f"{args.iters * args.rounds} steps each, torch threads {torch.get_num_threads()}")
    print(f"  shipped      {per_iter['shipped']:.3f} s/iter")
    print(f"  changed      {per_iter['changed']:.3f} s/iter  ({' '.join(args.opts)})")
    print(f"iteration cost changed vs shipped: {per_iter['changed'] / per_iter['shipped']:.2f}x")


if __name__ == "__main__":
    main()

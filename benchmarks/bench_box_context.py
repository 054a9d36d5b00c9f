"""Training iteration time with and without the box head's context pooling.

``MODEL.ROI_BOX_HEAD.CONTEXT_SCALE`` (2.0 in the shipped configs) pools every proposal twice,
as it is and doubled about its centre, and feeds both to the box head: two ROIAligns and
their backward passes instead of one, and a first FC layer twice as wide. This measures
what that costs an iteration of the CPU recipe: lumbarseg's trainer's steps on the same
phantoms, the variants taking turns step by step (``time_variants``).

Usage: python benchmarks/bench_box_context.py [--config configs/cpu/mask_rcnn_R_18_FPN.yaml]
       [--n 48] [--iters 15] [--rounds 2] [--data DIR_OF_CONVERTED_COCO]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from bench_train import bench_config, parse_bench_args, time_variants

KEY = "MODEL.ROI_BOX_HEAD.CONTEXT_SCALE"


def main() -> None:
    args = parse_bench_args(__doc__.split("\n")[0])
    with tempfile.TemporaryDirectory() as tmp:
        shipped = bench_config(args, "bench_context", Path(tmp))
        scale = shipped.MODEL.ROI_BOX_HEAD.CONTEXT_SCALE
        if scale == 1.0:
            raise SystemExit(f"{args.config}: {KEY} is 1 (off); nothing to compare")
        per_iter = time_variants(shipped, {"off": {KEY: 1.0}, "on": {KEY: scale}},
                                 Path(tmp), args.iters, args.rounds)
    print(f"config {Path(args.config).name}, batch {shipped.SOLVER.IMS_PER_BATCH}, "
          f"{args.iters} iterations x {args.rounds} rounds, torch threads "
          f"{torch.get_num_threads()}")
    print(f"  context off       {per_iter['off']:.3f} s/iter")
    print(f"  context x{scale:<10g}{per_iter['on']:.3f} s/iter")
    print(f"iteration cost with context vs without: {per_iter['on'] / per_iter['off']:.2f}x")


if __name__ == "__main__":
    main()

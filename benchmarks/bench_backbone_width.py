"""Training iteration time of the CPU recipe at the backbone's full width and at the shipped one.

The CPU configs build ResNet-18 at half the usual width (``build_basic_resnet_fpn_backbone``,
32 channels in res2) so that the demo's minutes buy more updates. This measures what one
iteration costs at 64 (Detectron2's stock R18) and at the config's width: lumbarseg's
trainer's steps on the same phantoms, the variants taking turns step by step (``time_variants``).

Usage: python benchmarks/bench_backbone_width.py [--config configs/cpu/mask_rcnn_R_18_FPN.yaml]
       [--n 48] [--iters 15] [--rounds 2] [--data DIR_OF_CONVERTED_COCO]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from bench_train import bench_config, parse_bench_args, time_variants

FULL_WIDTH = 64


def main() -> None:
    args = parse_bench_args(__doc__.split("\n")[0])
    with tempfile.TemporaryDirectory() as tmp:
        shipped = bench_config(args, "bench_width", Path(tmp))
        widths = (FULL_WIDTH, shipped.MODEL.RESNETS.RES2_OUT_CHANNELS)
        per_iter = time_variants(shipped, {
            width: {"MODEL.RESNETS.STEM_OUT_CHANNELS": width,
                    "MODEL.RESNETS.RES2_OUT_CHANNELS": width} for width in widths
        }, Path(tmp), args.iters, args.rounds)
    print(f"config {Path(args.config).name} ({shipped.MODEL.BACKBONE.NAME}), batch "
          f"{shipped.SOLVER.IMS_PER_BATCH}, {args.iters} iterations x {args.rounds} rounds, "
          f"torch threads {torch.get_num_threads()}")
    for width, seconds in per_iter.items():
        print(f"  res2 width {width:<4} {seconds:.3f} s/iter")
    full, shipped_width = per_iter[widths[0]], per_iter[widths[1]]
    print(f"iteration cost at width {widths[1]} vs {FULL_WIDTH}: {shipped_width / full:.2f}x; "
          f"iterations in the same minutes: {full / shipped_width:.2f}x")


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Train or evaluate a lumbarseg model, following Detectron2's tools/train_net.py conventions.

    tools/train_net.py --config-file configs/cpu/mask_rcnn_R_18_FPN.yaml \
        LUMBARSEG.DATASETS '("phantom_train=out/coco/train.json","phantom_val=out/coco/val.json")'
    tools/train_net.py --config-file ... --eval-only MODEL.WEIGHTS out/model_final.pth
    tools/train_net.py --config-file ... --num-gpus 8      # one machine, several GPUs
"""

from __future__ import annotations

import sys

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.engine import default_argument_parser, launch
from detectron2.utils import comm

from lumbarseg.engine import Trainer, setup_cfg
from lumbarseg.errors import LumbarsegError


def main(args):
    cfg = setup_cfg(args)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume
        )
        results = Trainer.test(cfg, model)
        if comm.is_main_process():
            from detectron2.evaluation import verify_results

            verify_results(cfg, results)
        return results
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def cli() -> int:
    args = default_argument_parser().parse_args()
    try:
        launch(
            main,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args,),
        )
    except LumbarsegError as exc:
        print(f"train_net: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli())

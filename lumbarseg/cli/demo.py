"""``lumbarseg demo``: the main job end to end on bundled phantom data (see lumbarseg.demo)."""

from __future__ import annotations

import argparse

from lumbarseg.demo import DEFAULT_CONFIG, DemoOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = DemoOptions()
    parser.add_argument("--out", default=defaults.out, help="output folder")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="CPU model config")
    parser.add_argument("--n", type=int, default=defaults.n_images, help="phantom images")
    parser.add_argument("--size", type=int, default=defaults.size, help="phantom height in px")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help="seed of the phantoms and the split (default %(default)s)")
    parser.add_argument("--max-iter", type=int, help="training iterations (default: config)")
    parser.add_argument("--train-processes", type=int, default=defaults.train_processes,
                        help="CPU training processes, each with its share of the batch "
                             "(default 1: on 2 cores two are no faster)")
    parser.add_argument("--retrain", action="store_true", help="train even if a model exists")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides KEY VALUE ...")


def run(args: argparse.Namespace) -> int:
    from lumbarseg.demo import run_demo

    return run_demo(DemoOptions(
        out=args.out, config=args.config, n_images=args.n, size=args.size, seed=args.seed,
        max_iter=args.max_iter, train_processes=args.train_processes,
        retrain=args.retrain, opts=tuple(args.opts),
    ))

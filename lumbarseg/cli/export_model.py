"""``lumbarseg export-model``: a trained model as one ``.lsm`` bundle (see lumbarseg.deploy),
optionally also as TorchScript or a standalone ONNX file."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from lumbarseg.errors import InputFileError, LumbarsegError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="model config (.yaml)")
    parser.add_argument("--weights", required=True, help="checkpoint (.pth/.pkl)")
    parser.add_argument("--out", required=True, help="bundle to write (model.lsm)")
    parser.add_argument("--training-data", metavar="JSON",
                        help="training data summary to record (e.g. convert's "
                        "conversion_report.json)")
    parser.add_argument("--evaluation", metavar="JSON",
                        help="evaluation results to record (e.g. lumbarseg evaluate's JSON; "
                        "default: the last evaluation in metrics.json next to the weights)")
    parser.add_argument("--no-onnx", action="store_true",
                        help="leave the ONNX graph out (--runtime onnxruntime then exports "
                        "it at start-up)")
    parser.add_argument("--torchscript", metavar="PATH", help="also write a TorchScript file")
    parser.add_argument("--onnx", metavar="PATH", help="also write the ONNX graph to a file")
    parser.add_argument("opts", nargs=argparse.REMAINDER, default=[],
                        help="config overrides: KEY VALUE ... (after the options)")


def _json_file(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"not valid JSON ({exc})") from None


def default_evaluation(weights: str) -> dict | None:
    """The last evaluation Detectron2 logged to metrics.json beside the checkpoint."""
    metrics = Path(weights).with_name("metrics.json")
    if not metrics.is_file():
        return None
    last = None
    for line in metrics.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        evaluated = {k: v for k, v in row.items() if k.startswith(("segm/", "bbox/", "labels/"))}
        if evaluated:
            last = {"source": str(metrics), "iteration": row.get("iteration"), **evaluated}
    return last


def run(args: argparse.Namespace) -> int:
    from lumbarseg.config import load_config
    from lumbarseg.deploy.bundle import SUFFIX, write_bundle
    from lumbarseg.deploy.export import export_onnx, export_torchscript
    from lumbarseg.deploy.runtime import load_network

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if not args.out.endswith(SUFFIX):
        raise LumbarsegError(f"--out {args.out}: a model bundle's name ends in {SUFFIX}")
    cfg = load_config(args.config, args.opts)
    cfg.MODEL.DEVICE = "cpu"
    model = load_network(cfg, args.weights)
    training = _json_file(args.training_data) if args.training_data else None
    evaluation = (_json_file(args.evaluation) if args.evaluation
                  else default_evaluation(args.weights))
    onnx = None if args.no_onnx and not args.onnx else export_onnx(model, cfg)
    if args.onnx:
        from lumbarseg.io.atomic import write_bytes_atomic

        write_bytes_atomic(Path(args.onnx), onnx)
    if args.torchscript:
        export_torchscript(model, cfg, args.torchscript)
    # Inference needs the architecture only: no dataset names, output folder or weights path.
    cfg.defrost()
    cfg.DATASETS.TRAIN, cfg.DATASETS.TEST = (), ()
    cfg.MODEL.WEIGHTS, cfg.OUTPUT_DIR = "", ""
    manifest = write_bundle(args.out, cfg.dump(), model.state_dict(),
                            onnx=None if args.no_onnx else onnx,
                            training_data=training, evaluation=evaluation)
    size = Path(args.out).stat().st_size / 2**20
    print(f"{args.out}: bundle format {manifest['format_version']}, "
          f"{', '.join(manifest['files'])} ({size:.1f} MB)")
    return 0

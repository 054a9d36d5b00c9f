"""The ``lumbarseg`` command: one subcommand per module in this package.

Each subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int``. Modules
are imported only when their subcommand runs, so ``lumbarseg doctor`` works even when a
heavy dependency is broken.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from lumbarseg.errors import LumbarsegError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("lumbarseg.cli.doctor", "print the environment a bug report needs"),
    "phantom": ("lumbarseg.cli.phantom", "generate synthetic lateral lumbar radiographs"),
    "convert": ("lumbarseg.cli.convert", "convert annotations to a COCO dataset"),
    "evaluate": ("lumbarseg.cli.evaluate", "evaluate saved COCO predictions"),
    "label": ("lumbarseg.cli.label", "assign L1-L5/S1 levels to COCO predictions"),
    "infer": ("lumbarseg.cli.infer", "batch inference on folders of DICOM/PNG files"),
    "export-model": ("lumbarseg.cli.export_model",
                     "write a trained model as one .lsm bundle (+ TorchScript/ONNX)"),
    "export-seg": ("lumbarseg.cli.export_seg", "write DICOM SEG objects from predictions"),
    "report": ("lumbarseg.cli.report", "write the static HTML report of an inference run"),
    "demo": ("lumbarseg.cli.demo", "the main job end to end on bundled phantom data"),
}


DESCRIPTION = (
    "Segment the lumbar vertebrae on lateral spine radiographs and label them L1-L5 and S1, "
    "with lordosis and listhesis measurements: convert annotations to a dataset, batch-infer "
    "on DICOM/PNG folders, export DICOM SEG, write an HTML report. Train with "
    "tools/train_net.py."
)
EPILOG = (
    "Start with `lumbarseg demo` (phantoms end to end) or "
    "`lumbarseg infer --config ... --weights ... --input DICOM_DIR --out OUT`; "
    "`lumbarseg COMMAND --help` lists a command's options."
)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(prog="lumbarseg", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    subparsers = {}
    for name, (_, help_text) in COMMANDS.items():
        subparsers[name] = sub.add_parser(name, help=help_text, description=help_text)
    return parser, subparsers


def _version() -> str:
    from lumbarseg import __version__

    return f"lumbarseg {__version__}"


def main(argv: list[str] | None = None) -> int:
    # torch.fx warns once per process about an API rename Detectron2 triggers; not actionable.
    logging.getLogger("torch.fx._symbolic_trace").setLevel(logging.ERROR)
    parser, subparsers = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    # Only the chosen subcommand's module is imported to add its arguments.
    name = next((a for a in argv if not a.startswith("-")), None)
    if name in COMMANDS:
        module = importlib.import_module(COMMANDS[name][0])
        module.add_arguments(subparsers[name])
    args = parser.parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except LumbarsegError as exc:
        print(f"lumbarseg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lumbarseg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

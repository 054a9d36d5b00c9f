"""``lumbarseg convert``: annotations in a supported format -> a validated COCO dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from lumbarseg.data.convert import FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="fmt",
        required=True,
        choices=list(FORMATS),
        help="; ".join(f"{name}: {text}" for name, (_, text) in FORMATS.items()),
    )
    parser.add_argument(
        "inputs", nargs="+", type=Path, metavar="INPUT", help="annotation files or folders"
    )
    parser.add_argument("--out", required=True, type=Path, help="output dataset folder")
    parser.add_argument("--images", type=Path, help="folder to look for image files first")
    parser.add_argument("--split", help="train,val[,test] fractions by patient, e.g. 0.7,0.15,0.15")
    parser.add_argument("--seed", type=int, default=0, help="seed of the patient shuffle")
    parser.add_argument(
        "--drop-unknown-labels",
        action="store_true",
        help="drop instances whose label is not L1..L5/S1 instead of failing",
    )
    parser.add_argument(
        "--sacral-depth",
        type=float,
        default=0.6,
        help="BUU: S1 body depth as a fraction of its endplate length",
    )
    parser.add_argument("--image-size", help="WIDTHxHEIGHT for inputs without image files")
    parser.add_argument(
        "--min-area",
        type=float,
        default=16.0,
        help="drop (and report) polygons smaller than this many pixels",
    )
    parser.add_argument(
        "--refuse-invalid",
        action="store_true",
        help="refuse self-intersecting polygons instead of repairing them",
    )
    parser.add_argument("--label-attribute", help="VIA: region attribute holding the level")
    parser.add_argument(
        "--drop-source-paths",
        action="store_true",
        help="leave original file paths out of the JSON (folder names may identify patients)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a dataset already converted into --out"
    )


def _size(text: str | None) -> tuple[int, int] | None:
    from lumbarseg.errors import LumbarsegError

    if text is None:
        return None
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise LumbarsegError(
            f"--image-size {text!r}: expected WIDTHxHEIGHT, e.g. 1024x1536"
        ) from None
    if width <= 0 or height <= 0:
        raise LumbarsegError(f"--image-size {text!r}: sizes must be positive")
    return width, height


def run(args: argparse.Namespace) -> int:
    from lumbarseg.data.convert.pipeline import convert_dataset
    from lumbarseg.data.convert.records import ConvertOptions
    from lumbarseg.data.convert.split import parse_fractions
    from lumbarseg.data.convert.summary import format_summary

    options = ConvertOptions(
        images_dir=args.images,
        drop_unknown_labels=args.drop_unknown_labels,
        sacral_depth=args.sacral_depth,
        image_size=_size(args.image_size),
        min_area=args.min_area,
        repair_invalid=not args.refuse_invalid,
        label_attribute=args.label_attribute,
        keep_source_paths=not args.drop_source_paths,
    )
    split = parse_fractions(args.split) if args.split else None
    result = convert_dataset(
        args.fmt,
        args.inputs,
        args.out,
        options,
        split=split,
        seed=args.seed,
        overwrite=args.overwrite,
    )
    print(format_summary(result))
    return 0 if result.ok else 1

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
        "--keep-paths",
        action="store_true",
        help="also write each image's original file and annotation path into the JSON "
        "(source_file, source_annotation) and the issue list into conversion_report.json; "
        "folder names may identify patients. Default: paths only in the private linkage.csv",
    )
    parser.add_argument(
        "--keep-uids",
        action="store_true",
        help="also write each DICOM's SOP Instance UID into the JSON (sop_instance_uid); "
        "default: only in the private linkage.csv",
    )
    parser.add_argument(
        "--private-dir",
        type=Path,
        help="folder for patient_secret.txt, linkage.csv and conversion_issues.json, which "
        "must not be shared with the dataset (default: OUT/private)",
    )
    parser.add_argument(
        "--patient-secret-file",
        type=Path,
        help="file holding your own secret for the patient keys (at least 16 characters), "
        "e.g. to key several datasets alike; it is not copied. Default: a random secret "
        "per dataset, kept in the private folder",
    )
    # Dropping paths is the default now; the flag stays accepted for existing scripts.
    parser.add_argument("--drop-source-paths", action="store_true", help=argparse.SUPPRESS)
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
    from lumbarseg.data.convert.private import read_secret_file
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
        keep_source_paths=args.keep_paths and not args.drop_source_paths,
        keep_uids=args.keep_uids,
        patient_secret=(
            read_secret_file(args.patient_secret_file) if args.patient_secret_file else None
        ),
        private_dir=args.private_dir,
        progress=True,
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

"""``lumbarseg report``: the static HTML report of an inference run."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="output folder of `lumbarseg infer`")
    parser.add_argument("--out", help="report folder (default: RUN/report)")
    parser.add_argument(
        "--input-root",
        help="folder of the source images, to draw overlays the run lacks (default: the "
        "one run.json names for --keep-paths runs, else the paths in RUN/private/linkage.csv)",
    )
    parser.add_argument("--title", default="lumbarseg report", help="page title")
    parser.add_argument(
        "--show-burned-in", action="store_true",
        help="show the pixels of images marked BurnedInAnnotation YES in the thumbnails and "
        "overlays (default: their masks on a blank canvas; burned-in text often names the "
        "patient)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from lumbarseg.report.html import build_report

    index = build_report(args.run, args.out, input_root=args.input_root, title=args.title,
                         show_burned_in=args.show_burned_in, progress=not args.quiet)
    print(f"report: {index.resolve()}")
    return 0

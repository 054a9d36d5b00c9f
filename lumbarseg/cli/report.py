"""``lumbarseg report``: the static HTML report of an inference run."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="output folder of `lumbarseg infer`")
    parser.add_argument("--out", help="report folder (default: RUN/report)")
    parser.add_argument(
        "--input-root",
        help="folder of the source images, to draw overlays the run lacks "
        "(default: the one run.json names)",
    )
    parser.add_argument("--title", default="lumbarseg report", help="page title")


def run(args: argparse.Namespace) -> int:
    from lumbarseg.report.html import build_report

    index = build_report(args.run, args.out, input_root=args.input_root, title=args.title)
    print(f"report: {index.resolve()}")
    return 0

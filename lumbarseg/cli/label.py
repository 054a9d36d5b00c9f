"""``lumbarseg label``: assign L1-L5/S1 levels to saved COCO predictions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictions", required=True, type=Path,
                        help="COCO results JSON (RLE or polygon segmentations, any categories)")
    parser.add_argument("--images", required=True, type=Path,
                        help="COCO JSON with the 'images' list (e.g. the ground-truth file)")
    parser.add_argument("--out", required=True, type=Path,
                        help="labelled COCO results; flags and measurements go to "
                             "OUT.sidecar.json next to it")
    parser.add_argument("--image-root", type=Path,
                        help="folder of the images' file_name paths (enables the metal test)")


def run(args: argparse.Namespace) -> int:
    from lumbarseg.io.atomic import write_json_atomic
    from lumbarseg.postprocess.coco import label_coco, sidecar_path
    from lumbarseg.postprocess.flags import flag_names

    results, sidecar = label_coco(args.predictions, args.images, args.image_root)
    side = sidecar_path(args.out)
    write_json_atomic(side, sidecar, indent=1)
    write_json_atomic(args.out, results)
    flagged = sum(bool(flag_names(r["flags"])) for r in sidecar["images"].values())
    skipped = len(sidecar["skipped_predictions"])
    print(f"labelled {len(results)} vertebrae in {len(sidecar['images'])} images "
          f"({flagged} flagged{f', {skipped} predictions skipped' if skipped else ''}) "
          f"-> {args.out}, {side}")
    for skipped in sidecar["skipped_predictions"]:
        print(f"warning: {args.predictions}: prediction #{skipped['index']} "
              f"(image_id {skipped['image_id']!r}): {skipped['reason']}; skipped", file=sys.stderr)
    for failure in sidecar["failures"]:
        print(f"warning: {failure['reason']} (metal test skipped)", file=sys.stderr)
    return 0

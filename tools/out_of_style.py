#!/usr/bin/env python
"""Out-of-style evaluation: train the demo recipe without one imaging-style family, then score
the model on held-out phantoms of the families it saw (in-style) and of the one it never saw
(out-of-style), with the same ``lumbarseg infer`` + evaluation path the demo uses.

    python tools/out_of_style.py --out output/out_of_style            # hold out "flat"
    python tools/out_of_style.py --out output/oos --hold-out film --max-iter 400
    python tools/out_of_style.py --out output/oos_no_context MODEL.ROI_BOX_HEAD.CONTEXT_SCALE 1.0

The out-of-style set is rendered at 512 px with the default MONOCHROME1/2 mix, like a set
from another simulator would be. Prints one Markdown table and writes ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from lumbarseg.demo import (
    DemoOptions,
    align_ground_truth,
    heldout_folder,
    prepare_data,
    train_or_reuse,
)
from lumbarseg.io.atomic import write_json_atomic
from lumbarseg.phantom.styles import HELD_OUT_DEFAULT, STYLE_FAMILIES

ROWS = [("detection", "levels", "detection"), ("recognition", "levels", "recognition"),
        ("sequence right", "levels", "sequence_accuracy"), ("mask AP", "segm", "AP"),
        ("Dice", "levels", "dice_mean")]


def score(config: Path, weights: Path, folder: Path, gt: Path, out: Path) -> dict:
    """Infer on a DICOM folder and evaluate against ground truth keyed by relative path."""
    from lumbarseg.evaluation import evaluate_coco_files, write_results
    from lumbarseg.inference import InferenceOptions, run_inference

    run_dir = out / "run"
    run_inference(InferenceOptions(config=str(config), weights=str(weights),
                                   inputs=[str(folder)], out=str(run_dir), device="cpu",
                                   progress=False))
    aligned = align_ground_truth(gt, run_dir, out / "gt_aligned.json")
    results = evaluate_coco_files(run_dir / "predictions.json", aligned)
    write_results(results, run_dir / "evaluation")
    return results


def out_of_style_set(out: Path, family: str, n: int, seed: int, size: int) -> tuple[Path, Path]:
    """Phantoms of one family; ground truth renamed to paths relative to their DICOM folder."""
    from lumbarseg.phantom import PhantomConfig, generate_dataset

    annotations = out / "phantom" / "annotations.json"
    if not annotations.is_file():
        generate_dataset(out / "phantom", n, seed, config=PhantomConfig(size=size,
                                                                         styles=(family,)))
    coco = json.loads(annotations.read_text())
    for img in coco["images"]:
        img["file_name"] = img["file_name"].removeprefix("dicom/")
    gt = out / "gt.json"
    write_json_atomic(gt, coco)
    return out / "phantom" / "dicom", gt


def table(rows: dict[str, dict]) -> str:
    head = ["test set", *[r[0] for r in ROWS], "images"]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for name, res in rows.items():
        cells = [f"{res.get(sec, {}).get(key, float('nan')):.1f}" for _, sec, key in ROWS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {res['images']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="output/out_of_style")
    parser.add_argument("--hold-out", default=HELD_OUT_DEFAULT, choices=list(STYLE_FAMILIES))
    parser.add_argument("--n-test", type=int, default=60, help="out-of-style test images")
    parser.add_argument("--test-size", type=int, default=512)
    parser.add_argument("--max-iter", type=int, default=None, help="default: the config's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=DemoOptions().n_images,
                        help="training phantoms (default: the demo's)")
    parser.add_argument("opts", nargs=argparse.REMAINDER,
                        help="config overrides KEY VALUE ... (as `lumbarseg demo` takes them)")
    args = parser.parse_args()

    out = Path(args.out)
    defaults = DemoOptions()
    styles = tuple(s for s in STYLE_FAMILIES if s != args.hold_out)
    options = DemoOptions(out=str(out / "train"), styles=styles, max_iter=args.max_iter,
                          seed=args.seed, n_images=args.n, opts=tuple(args.opts))
    start = time.perf_counter()
    data = prepare_data(options, Path(options.out))
    config, weights, reused = train_or_reuse(options, data["coco"], Path(options.out))
    train_min = (time.perf_counter() - start) / 60
    print(f"trained on {', '.join(styles)} ({'reused' if reused else f'{train_min:.1f} min'})")
    rows = {}
    folder, gt = heldout_folder(data["coco"], out / "in_style")
    rows[f"in-style ({', '.join(styles)})"] = score(config, weights, folder, gt, out / "in_style")
    folder, gt = out_of_style_set(out / "held_out", args.hold_out, args.n_test,
                                  args.seed + 1000, args.test_size)
    rows[f"out-of-style ({args.hold_out}, {args.test_size} px)"] = score(
        config, weights, folder, gt, out / "held_out")
    for name, res in rows.items():
        res["images"] = len(json.loads((out / ("in_style" if name.startswith("in") else
                                               "held_out") / "gt_aligned.json").read_text())
                                ["images"])
    text = table(rows)
    print(text)
    write_json_atomic(out / "results.json", {"hold_out": args.hold_out, "styles": styles,
                                             "recipe": {"n_images": args.n,
                                                        "size": defaults.size,
                                                        "max_iter": args.max_iter,
                                                        "opts": args.opts},
                                             "results": rows, "markdown": text})


if __name__ == "__main__":
    main()

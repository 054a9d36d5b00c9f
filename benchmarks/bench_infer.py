"""Batch inference speed and memory: `lumbarseg infer` vs a plain DefaultPredictor loop.

Usage:
  python benchmarks/bench_infer.py                      # CPU, small images
  python benchmarks/bench_infer.py --device cuda --size 1024 --speed-n 200 \
      --config configs/mask_rcnn_R_50_FPN.yaml --batch-size 8

Both pipelines run the same randomly initialised model (weights saved once) on the same
DICOM files, each in a fresh subprocess, timed from "model loaded" to "outputs on disk".
The baseline is what one would write by hand: read each file with the shared
``load_network_input``, ``DefaultPredictor``, RLE-encode, label with the same labeller,
dump one COCO results JSON. Peak memory (RSS of the whole process tree, DataLoader
workers included) of `lumbarseg infer` is sampled for each --memory-n file count.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_inputs(root: Path, size: int, counts: list[int], distinct: int = 8) -> dict[int, Path]:
    """Phantom DICOMs (a few distinct ones, hard-linked to reach each count)."""
    from lumbarseg.phantom import generate_dataset

    src = root / "src"
    generate_dataset(src, distinct, seed=0, size=size)
    files = sorted((src / "dicom").rglob("*.dcm"))
    out = {}
    for n in counts:
        folder = root / f"in_{n}"
        folder.mkdir()
        for i in range(n):
            target = folder / f"{i // 100:03d}" / f"im{i:05d}.dcm"
            target.parent.mkdir(exist_ok=True)
            os.link(files[i % len(files)], target)
        out[n] = folder
    return out


def save_weights(config: str, opts: list[str], path: Path) -> None:
    import torch
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.modeling import build_model

    import lumbarseg.modeling  # noqa: F401
    from lumbarseg.config import load_config

    torch.manual_seed(0)
    cfg = load_config(config, opts)
    cfg.MODEL.DEVICE = "cpu"
    DetectionCheckpointer(build_model(cfg), save_dir=str(path.parent)).save(path.stem)


def child_ours(a: argparse.Namespace) -> dict:
    from lumbarseg.config import load_config
    from lumbarseg.inference import InferenceOptions, run_inference
    from lumbarseg.inference.predictor import load_model

    start = time.perf_counter()  # model build+load, measured to subtract it
    cfg = load_config(a.config, a.opts)
    cfg.MODEL.DEVICE = a.device
    load_model(cfg, a.weights)
    load_s = time.perf_counter() - start
    options = InferenceOptions(
        config=a.config, weights=a.weights, inputs=[a.input], out=a.out, opts=a.opts,
        device=a.device, batch_size=a.batch_size, num_workers=a.workers, progress=False,
        label_workers=a.label_workers,
    )
    start = time.perf_counter()
    run_inference(options)
    wall = time.perf_counter() - start - load_s
    run = json.loads((Path(a.out) / "run.json").read_text())
    n = run["counts"]["ok"]
    return {"images": n, "seconds": wall, "images_per_s": n / wall,
            "failures": run["failures"][:3], "device": run["device"]}


def child_baseline(a: argparse.Namespace) -> dict:
    import numpy as np
    import torch
    from detectron2.engine import DefaultPredictor

    import lumbarseg.modeling  # noqa: F401  (registers the ROI heads)
    from lumbarseg.config import load_config
    from lumbarseg.inference.discovery import discover
    from lumbarseg.inference.labelling import Labeller
    from lumbarseg.io.radiograph import load_network_input, read_radiograph

    cfg = load_config(a.config, a.opts)
    cfg.MODEL.DEVICE = a.device
    cfg.MODEL.WEIGHTS = a.weights
    gray_input = cfg.INPUT.FORMAT == "L"
    if gray_input:  # DefaultPredictor only accepts RGB/BGR configs; the model does not care
        cfg.INPUT.FORMAT = "BGR"
    predictor = DefaultPredictor(cfg)
    if gray_input:
        predictor.input_format = "L"
    labeller = Labeller()
    items, _ = discover([a.input])
    results = []
    start = time.perf_counter()
    for item in items:
        gray = load_network_input(item.path)
        spacing = read_radiograph(item.path).pixel_spacing_mm if a.spacing else None
        image = gray[:, :, None] if gray_input else np.repeat(gray[:, :, None], 3, axis=2)
        instances = predictor(image)["instances"].to("cpu")
        labelled = labeller(instances, gray, spacing)
        for v in labelled["vertebrae"]:
            if v["category_id"]:
                results.append({"image_id": item.image_id, "category_id": v["category_id"],
                                "segmentation": v["segmentation"], "bbox": v["bbox"],
                                "score": v["score"]})
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "predictions.json").write_text(json.dumps(results))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    return {"images": len(items), "seconds": wall, "images_per_s": len(items) / wall}


def _pss(process) -> int:
    try:
        info = process.memory_full_info()
    except (AttributeError, OSError):
        return process.memory_info().rss
    return getattr(info, "pss", info.rss)


def run_child(kind: str, args: argparse.Namespace, input_dir: Path, out: Path) -> dict:
    """Run one pipeline in a fresh process; sample the peak RSS of its process tree."""
    import psutil

    cmd = [sys.executable, __file__, "--child", kind, "--input", str(input_dir),
           "--out", str(out), "--weights", args.weights, "--config", args.config,
           "--device", args.device, "--batch-size", str(args.batch_size),
           *(["--workers", str(args.workers)] if args.workers is not None else []),
           *(["--spacing"] if args.spacing else []),
           *(["--label-workers", str(args.label_workers)] if args.label_workers is not None
             else []),
           "--opts", *args.opts]
    log = open(out.parent / f"{out.name}.log", "w")  # noqa: SIM115 (closed with the child)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    parent = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            # PSS: pages shared by the forked DataLoader workers are counted once, not per process.
            peak = max(peak, sum(_pss(p) for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.05)
    stdout = proc.stdout.read()
    log.close()
    if proc.returncode not in (0, 1) or not stdout.strip():
        tail = Path(log.name).read_text()[-3000:]
        raise SystemExit(f"{kind} child failed with status {proc.returncode}:\n{tail}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_mb"] = peak / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--config", default=None,
                        help="default: the CPU Mask R-CNN on cpu, the R50 one on cuda")
    parser.add_argument("--size", type=int, default=1024, help="phantom file size (px)")
    parser.add_argument("--test-size", type=int, default=None,
                        help="model input short edge (default: 256 on cpu, 800 on cuda)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="interleaved speed runs of each pipeline; the best one counts")
    parser.add_argument("--speed-n", type=int, default=200, help="files for the speed runs")
    parser.add_argument("--memory-n", type=int, nargs="*", default=[50, 500])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--label-workers", type=int, default=None,
                        help="labelling processes of lumbarseg infer (default: its own)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--spacing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    parser.add_argument("--opts", nargs="*", default=[], help="extra config KEY VALUE pairs")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.child:
        result = (child_ours if args.child == "ours" else child_baseline)(args)
        print(json.dumps(result))
        return

    if args.config is None:
        args.config = str(REPO / "configs" / ("cpu/mask_rcnn_R_18_FPN.yaml" if args.device ==
                                               "cpu" else "mask_rcnn_R_50_FPN.yaml"))
    test_size = args.test_size or (256 if args.device == "cpu" else 800)
    args.opts = ["INPUT.MIN_SIZE_TEST", str(test_size), "INPUT.MAX_SIZE_TEST",
                 str(int(test_size * 1.7)), "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.05",
                 *args.opts]
    root = Path(tempfile.mkdtemp(prefix="bench_infer_"))
    try:
        t0 = time.perf_counter()
        inputs = make_inputs(root, args.size, sorted({args.speed_n, *args.memory_n}))
        args.weights = str(root / "model.pth")
        save_weights(args.config, args.opts, Path(args.weights))
        print(f"setup {time.perf_counter() - t0:.1f} s; device={args.device} "
              f"config={Path(args.config).name} files={args.size}px model input={test_size}px "
              f"batch={args.batch_size} "
              f"workers={'auto' if args.workers is None else args.workers} cpus={os.cpu_count()}")
        speed = inputs[args.speed_n]
        bases, ourses = [], []
        for r in range(args.repeat):
            bases.append(run_child("baseline", args, speed, root / f"out_base{r}"))
            ourses.append(run_child("ours", args, speed, root / f"out_ours{r}"))
            print(f"  run {r}: DefaultPredictor {bases[-1]['images_per_s']:.2f} images/s, "
                  f"lumbarseg {ourses[-1]['images_per_s']:.2f} images/s", flush=True)
        base = max(bases, key=lambda x: x["images_per_s"])
        ours = max(ourses, key=lambda x: x["images_per_s"])
        print(f"DefaultPredictor loop : {base['images_per_s']:.2f} images/s "
              f"({base['images']} images, {base['seconds']:.1f} s)")
        print(f"lumbarseg infer       : {ours['images_per_s']:.2f} images/s "
              f"({ours['images']} images, {ours['seconds']:.1f} s, device {ours['device']}"
              f"{', failures: ' + str(ours['failures']) if ours['failures'] else ''})")
        print(f"speed ratio (lumbarseg / DefaultPredictor): "
              f"{ours['images_per_s'] / base['images_per_s']:.2f}x")
        for n in args.memory_n:
            mem = run_child("ours", args, inputs[n], root / f"out_mem_{n}")
            print(f"peak memory (PSS of process tree), lumbarseg infer on {n} files: "
                  f"{mem['peak_mb']:.0f} MB ({mem['images_per_s']:.2f} images/s)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

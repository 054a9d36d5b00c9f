"""Batch inference speed and memory: `lumbarseg infer` (each runtime) vs a plain
DefaultPredictor loop, with a trained model.

Usage:
  python benchmarks/bench_infer.py                      # CPU: the demo's model, 512 px files
  python benchmarks/bench_infer.py --profile            # + where the time goes, FLOPs/image
  python benchmarks/bench_infer.py --device cuda --runtimes pytorch [--compile]  # GPU

The model is the demo's (``output/demo/model``, or --config/--weights); without one, a small
one is trained first (``lumbarseg demo --max-iter``), so detections, masks and the labeller's
work are realistic. It is packed once into a ``.lsm`` bundle (with its ONNX graph), which the
`lumbarseg infer` runs use. All pipelines read the same phantom DICOMs, each run in a fresh
subprocess, timed from "model loaded" to "outputs on disk", alternated run by run (the
machine is shared: ratios of neighbouring runs are what count). The baseline is what one
would write by hand: read each file with the shared ``load_network_input``,
``DefaultPredictor``, label with the same labeller (RLE included), dump one COCO results
JSON. Predictions of each runtime are compared with the baseline's levels. Peak memory (PSS
of the process tree) of `lumbarseg infer` is sampled for each --memory-n file count.
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


def make_inputs(root: Path, size: int, counts: list[int], distinct: int = 24) -> dict[int, Path]:
    """Phantom DICOMs (a few distinct ones, hard-linked to reach each count)."""
    from lumbarseg.phantom import generate_dataset

    src = root / "src"
    generate_dataset(src, distinct, seed=1000, size=size)  # not the demo's training phantoms
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


def trained_model(args: argparse.Namespace, root: Path) -> tuple[str, str]:
    """(config, weights): given, the demo's, or trained here by ``lumbarseg demo``."""
    if args.config and args.weights:
        return args.config, args.weights
    demo = Path(args.demo)
    if (demo / "config.yaml").is_file() and (demo / "model_final.pth").is_file():
        return str(demo / "config.yaml"), str(demo / "model_final.pth")
    print(f"no trained model in {demo}: training one ({args.train_iter} iterations)", flush=True)
    subprocess.run([sys.executable, "-m", "lumbarseg", "demo", "--out", str(root / "demo"),
                    "--max-iter", str(args.train_iter)], check=True, stdout=subprocess.DEVNULL)
    return str(root / "demo/model/config.yaml"), str(root / "demo/model/model_final.pth")


def make_bundle(config: str, weights: str, out: Path) -> None:
    subprocess.run([sys.executable, "-m", "lumbarseg", "export-model", "--config", config,
                    "--weights", weights, "--out", str(out)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _compile_backbone() -> None:
    """--compile: torch.compile the backbone of every model `lumbarseg infer` loads."""
    import torch

    from lumbarseg.deploy import runtime

    plain = runtime.load_network

    def compiled(cfg, weights):
        model = plain(cfg, weights)
        model.backbone = torch.compile(model.backbone, dynamic=True)
        return model

    runtime.load_network = compiled


def child_ours(a: argparse.Namespace) -> dict:
    from lumbarseg.deploy import build_predictor, model_configs
    from lumbarseg.inference import InferenceOptions, run_inference

    if a.compile:
        _compile_backbone()
    options = InferenceOptions(
        config=a.bundle, weights=a.bundle, inputs=[a.input], out=a.out, opts=a.opts,
        device=a.device, batch_size=a.batch_size, num_workers=a.workers, progress=False,
        label_workers=a.label_workers, runtime=a.runtime,
    )
    start = time.perf_counter()  # model build+load, measured to subtract it
    cfgs, weights = model_configs(options)
    for cfg in cfgs:
        cfg.MODEL.DEVICE = a.device
    build_predictor(options, cfgs, weights, a.device)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    run_inference(options)
    wall = time.perf_counter() - start - load_s
    run = json.loads((Path(a.out) / "run.json").read_text())
    n = run["counts"]["ok"]
    return {"images": n, "seconds": wall, "images_per_s": n / wall,
            "failures": run["failures"][:3], "device": run["device"],
            "levels": _levels_ours(Path(a.out))}


def _levels_ours(out: Path) -> dict:
    """{relative path: [(category_id, rounded box)]} from the per-image records."""
    levels = {}
    for path in (out / "per_image").glob("*.json"):
        record = json.loads(path.read_text())
        levels[record["relative_path"]] = sorted(
            (v["category_id"], v["bbox"][0] + v["bbox"][2] / 2, v["bbox"][1] + v["bbox"][3] / 2)
            for v in record["vertebrae"] if v.get("category_id"))
    return levels


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
    results, levels = [], {}
    start = time.perf_counter()
    for item in items:
        gray = load_network_input(item.path)
        spacing = read_radiograph(item.path).pixel_spacing_mm if a.spacing else None
        image = gray[:, :, None] if gray_input else np.repeat(gray[:, :, None], 3, axis=2)
        instances = predictor(image)["instances"].to("cpu")
        labelled = labeller(instances, gray, spacing)
        levels[item.relative_path] = sorted(
            (v["category_id"], v["bbox"][0] + v["bbox"][2] / 2, v["bbox"][1] + v["bbox"][3] / 2)
            for v in labelled["vertebrae"] if v.get("category_id"))
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
    return {"images": len(items), "seconds": wall, "images_per_s": len(items) / wall,
            "levels": levels}


def _pss(process) -> int:
    try:
        info = process.memory_full_info()
    except (AttributeError, OSError):
        return process.memory_info().rss
    return getattr(info, "pss", info.rss)


def run_child(kind: str, args: argparse.Namespace, input_dir: Path, out: Path) -> dict:
    """Run one pipeline in a fresh process; sample the peak RSS of its process tree."""
    import psutil

    runtime = kind.partition(":")[2] or "pytorch"
    cmd = [sys.executable, __file__, "--child", kind.partition(":")[0], "--input",
           str(input_dir), "--out", str(out), "--weights", args.weights, "--config",
           args.config, "--bundle", args.bundle, "--runtime", runtime,
           "--device", args.device, "--batch-size", str(args.batch_size),
           *(["--compile"] if args.compile else []),
           *(["--workers", str(args.workers)] if args.workers is not None else []),
           *(["--spacing"] if args.spacing else []),
           *(["--label-workers", str(args.label_workers)] if args.label_workers is not None
             else []),
           "--opts", *args.opts]
    log = open(out.parent / f"{out.name}.log", "w")  # noqa: SIM115 (closed with the child)
    # The result goes to a file: a pipe would fill up (the levels of 500 files) and block
    # the child while this process only samples memory.
    result_file = open(out.parent / f"{out.name}.result", "w+")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=result_file, stderr=log, text=True)
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
    result_file.seek(0)
    stdout = result_file.read()
    result_file.close()
    log.close()
    if proc.returncode not in (0, 1) or not stdout.strip():
        tail = Path(log.name).read_text()[-3000:]
        raise SystemExit(f"{kind} child failed with status {proc.returncode}:\n{tail}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_mb"] = peak / 2**20
    return result


def level_agreement(reference: dict, other: dict, tolerance_px: float = 4.0) -> tuple[int, int]:
    """(vertebrae of ``reference`` found in ``other`` with the same level and a box centre
    within ``tolerance_px``, vertebrae in ``reference``)."""
    same = total = 0
    for path, verts in reference.items():
        rest = list(other.get(path, []))
        total += len(verts)
        for cat, x, y in verts:
            hit = next((o for o in rest if o[0] == cat and abs(o[1] - x) <= tolerance_px
                        and abs(o[2] - y) <= tolerance_px), None)
            if hit is not None:
                rest.remove(hit)
                same += 1
    return same, total


def profile(args: argparse.Namespace, folder: Path) -> None:
    """Where one image's time goes (PyTorch stages, then the ONNX Runtime network), and the
    model's FLOPs per image."""
    import torch
    from detectron2.modeling.postprocessing import detector_postprocess
    from detectron2.utils.analysis import FlopCountAnalysis

    from lumbarseg.deploy import load_network, read_bundle
    from lumbarseg.deploy.runtime import OnnxRuntimePredictor
    from lumbarseg.inference.dataset import InferenceDataset
    from lumbarseg.inference.discovery import discover
    from lumbarseg.inference.labelling import Labeller, encode_mask
    from lumbarseg.inference.predictor import compact_instances, expand_instances

    cfg = read_bundle(args.bundle).load_config(args.opts)
    model = load_network(cfg, args.bundle)
    onnx = OnnxRuntimePredictor(read_bundle(args.bundle).onnx, cfg)
    items, _ = discover([str(folder)])
    dataset = InferenceDataset(items[: args.profile_n], cfg)
    labeller = Labeller()
    times: dict[str, float] = {}

    def timed(name, fn, *a):
        start = time.perf_counter()
        out = fn(*a)
        times[name] = times.get(name, 0.0) + time.perf_counter() - start
        return out

    flops = None
    for index in range(len(dataset)):
        sample = timed("decode + resize", dataset.__getitem__, index)
        image = sample["image"].float()
        with torch.inference_mode():
            images = timed("normalise + pad", model.preprocess_image, [{"image": image}])
            features = timed("backbone (ResNet-18 + FPN)", model.backbone, images.tensor)
            proposals, _ = timed("RPN", model.proposal_generator, images, features, None)
            results, _ = timed("ROI heads (box + mask)", model.roi_heads, images, features,
                               proposals, None)
            full = timed("mask paste (detector_postprocess)", detector_postprocess,
                         results[0], sample["height"], sample["width"])
        compact = timed("crop masks (compact_instances)", compact_instances, full)
        instances = expand_instances(compact)
        timed("RLE (pycocotools)", lambda m: [encode_mask(x) for x in m],
              instances.pred_masks.numpy())
        record = timed("labeller (incl. RLE)", labeller, instances, sample["gray"],
                       sample["pixel_spacing_mm"])
        timed("writing (JSON)", lambda r: json.dumps(r, default=float), record)
        timed("ONNX Runtime network (whole graph)", onnx.session.run, None,
              {onnx.input_name: image.numpy()})
        if flops is None:
            with torch.no_grad():
                counter = FlopCountAnalysis(model, [{"image": image}])
                counter.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
                flops = counter.total()
    n = len(dataset)
    print(f"profile ({n} images, ms per image; 'RLE' is part of 'labeller'):")
    for name, seconds in times.items():
        print(f"  {name:38s} {1000 * seconds / n:8.1f}")
    print(f"model FLOPs per image (fvcore, multiply-adds counted once): {flops / 1e9:.2f} G "
          f"at input {tuple(image.shape[-2:])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--config", default=None, help="trained model config (with --weights)")
    parser.add_argument("--weights", default=None, help="trained checkpoint")
    parser.add_argument("--demo", default=str(REPO / "output" / "demo" / "model"),
                        help="folder of the demo's model (used when present)")
    parser.add_argument("--train-iter", type=int, default=150,
                        help="iterations when a model must be trained first")
    parser.add_argument("--runtimes", nargs="+", default=None,
                        help="lumbarseg infer runtimes (default: pytorch onnxruntime on cpu, "
                        "pytorch on cuda)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the backbone in the pytorch runtime")
    parser.add_argument("--size", type=int, default=512, help="phantom file size (px)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="interleaved speed runs of each pipeline; the best one counts")
    parser.add_argument("--speed-n", type=int, default=100, help="files for the speed runs")
    parser.add_argument("--memory-n", type=int, nargs="*", default=[50, 500])
    parser.add_argument("--memory-runtimes", nargs="*", default=None,
                        help="runtimes whose peak memory is measured (default: all)")
    parser.add_argument("--profile", action="store_true", help="also profile the stages")
    parser.add_argument("--profile-n", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--label-workers", type=int, default=None,
                        help="labelling processes of lumbarseg infer (default: its own)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--spacing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--runtime", default="pytorch", help=argparse.SUPPRESS)
    parser.add_argument("--bundle", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--opts", nargs="*", default=[], help="extra config KEY VALUE pairs")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.child:
        result = (child_ours if args.child == "ours" else child_baseline)(args)
        print(json.dumps(result))
        return
    runtimes = args.runtimes or (["pytorch", "onnxruntime"] if args.device == "cpu"
                                 else ["pytorch"])
    root = Path(tempfile.mkdtemp(prefix="bench_infer_"))
    try:
        t0 = time.perf_counter()
        args.config, args.weights = trained_model(args, root)
        args.bundle = str(root / "model.lsm")
        make_bundle(args.config, args.weights, Path(args.bundle))
        inputs = make_inputs(root, args.size, sorted({args.speed_n, *args.memory_n}))
        print(f"setup {time.perf_counter() - t0:.1f} s; device={args.device} "
              f"model={args.weights} files={args.size}px batch={args.batch_size} "
              f"workers={'auto' if args.workers is None else args.workers} "
              f"cpus={os.cpu_count()}{' compile' if args.compile else ''}", flush=True)
        if args.profile:
            profile(args, inputs[args.speed_n])
        _speed(args, runtimes, inputs[args.speed_n], root)
        for runtime in runtimes if args.memory_runtimes is None else args.memory_runtimes:
            for n in args.memory_n:
                mem = run_child(f"ours:{runtime}", args, inputs[n], root / f"mem_{runtime}_{n}")
                print(f"peak memory (PSS of process tree), lumbarseg infer --runtime {runtime} "
                      f"on {n} files: {mem['peak_mb']:.0f} MB "
                      f"({mem['images_per_s']:.2f} images/s)", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _speed(args: argparse.Namespace, runtimes: list[str], folder: Path, root: Path) -> None:
    """Alternate baseline and each runtime run by run; print rates, ratios and agreement."""
    kinds = ["baseline", *(f"ours:{r}" for r in runtimes)]
    results: dict[str, list[dict]] = {k: [] for k in kinds}
    for r in range(args.repeat):
        for kind in kinds:
            results[kind].append(run_child(kind, args, folder, root / f"{kind}_{r}"))
        rates = ", ".join(f"{k} {results[k][-1]['images_per_s']:.2f}" for k in kinds)
        ratios = ", ".join(f"{k} {results[k][-1]['images_per_s'] / results['baseline'][-1]['images_per_s']:.2f}x"  # noqa: E501
                           for k in kinds[1:])
        print(f"  run {r}: images/s {rates}; ratio to the loop in this run: {ratios}", flush=True)
    base = max(results["baseline"], key=lambda x: x["images_per_s"])
    print(f"DefaultPredictor loop          : {base['images_per_s']:.2f} images/s "
          f"({base['images']} images, {base['seconds']:.1f} s)")
    for kind in kinds[1:]:
        best = max(results[kind], key=lambda x: x["images_per_s"])
        same, total = level_agreement(base["levels"], best["levels"])
        ratios = [o["images_per_s"] / b["images_per_s"]
                  for o, b in zip(results[kind], results["baseline"], strict=True)]
        print(f"lumbarseg infer --runtime {kind[5:]:11s}: {best['images_per_s']:.2f} images/s; "
              f"ratio to the loop per run {', '.join(f'{x:.2f}x' for x in ratios)}; "
              f"same level on {same}/{total} vertebrae ({100 * same / max(1, total):.1f} %)"
              f"{'; failures: ' + str(best['failures']) if best['failures'] else ''}")


if __name__ == "__main__":
    main()

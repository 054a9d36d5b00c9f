"""The main job: the whole chain on bundled phantom data, end to end on a CPU.

phantoms (DICOM) -> COCO with a patient-level split -> train a small CPU model (reused when
one trained on the same recipe exists) -> batch inference on the held-out DICOM folder ->
labelling -> COCO export, DICOM SEG, HTML report -> evaluation against the phantom truth.
Each step is the same library call the individual commands make.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lumbarseg.errors import LumbarsegError
from lumbarseg.inference.writers import OutputFolder
from lumbarseg.io.atomic import write_json_atomic

logger = logging.getLogger(__name__)
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs/cpu/mask_rcnn_R_18_FPN.yaml"
SPLIT = (0.75, 0.1, 0.15)


@dataclass
class DemoOptions:
    out: str = "output/demo"
    config: str = str(DEFAULT_CONFIG)
    n_images: int = 400
    size: int = 512
    # Imaging-style families of the phantoms (None: all of them, see phantom.styles).
    styles: tuple[str, ...] | None = None
    seed: int = 0
    max_iter: int | None = None  # None: the config's SOLVER.MAX_ITER
    # Training processes on the CPU, each with its share of the batch (engine.cpu_parallel:
    # no faster than one on 2 cores); the weights depend on it, as on any change of how the
    # batch is computed.
    train_processes: int = 1
    retrain: bool = False
    opts: tuple[str, ...] = ()


class Step:
    """Prints one line per step with its wall time, so the user sees where time goes."""

    def __init__(self, timings: dict[str, float], name: str):
        self.timings, self.name = timings, name

    def __enter__(self):
        print(f"[demo] {self.name} ...", flush=True)
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.timings[self.name] = time.perf_counter() - self.start
        if exc[0] is None:
            print(f"[demo] {self.name}: {self.timings[self.name]:.1f} s", flush=True)


def _recipe_fingerprint(options: DemoOptions) -> str:
    """What the trained model depends on; a change means retraining. The config is taken as
    merged, its ``_BASE_`` files and overrides included: the recipe lives mostly in bases."""
    from lumbarseg.config import load_config

    recipe = {k: v for k, v in asdict(options).items() if k not in ("out", "retrain")}
    recipe["config"] = load_config(options.config, list(options.opts)).dump()
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def prepare_data(options: DemoOptions, out: Path) -> dict[str, Path]:
    from lumbarseg.data.convert.pipeline import convert_dataset
    from lumbarseg.data.convert.records import ConvertOptions
    from lumbarseg.engine.cpu_parallel import available_cores
    from lumbarseg.phantom import PhantomConfig, generate_dataset

    phantom = out / "phantom"
    annotations = phantom / "annotations.json"
    if not annotations.is_file():
        config = PhantomConfig(size=options.size,
                               styles=tuple(options.styles or PhantomConfig.styles))
        generate_dataset(phantom, options.n_images, options.seed, config=config,
                         workers=available_cores())
    coco = out / "coco"
    if not (coco / "annotations_test.json").is_file():
        # Phantoms identify nobody; the held-out folder is rebuilt from the source paths.
        convert_dataset("coco", [annotations], coco, ConvertOptions(keep_source_paths=True),
                        split=SPLIT, seed=options.seed, overwrite=True)
    return {"phantom": annotations, "coco": coco}


def train_or_reuse(options: DemoOptions, coco: Path, out: Path) -> tuple[Path, Path, bool]:
    """Return (config used, weights, whether they were reused)."""
    from detectron2.data import DatasetCatalog
    from detectron2.engine import launch

    from lumbarseg.config import load_config
    from lumbarseg.config.defaults import schedule_overrides
    from lumbarseg.data.register import register_converted

    model_dir = out / "model"
    weights = model_dir / "model_final.pth"
    stamp = model_dir / "recipe.json"
    fingerprint = _recipe_fingerprint(options)
    cfg_path = model_dir / "config.yaml"
    if (not options.retrain and weights.is_file() and cfg_path.is_file() and stamp.is_file()
            and json.loads(stamp.read_text()).get("fingerprint") == fingerprint):
        return cfg_path, weights, True
    # Names unique per dataset folder: a process may run demos on several folders.
    prefix = "demo_" + hashlib.sha256(str(coco.resolve()).encode()).hexdigest()[:8]
    if f"{prefix}_train" not in DatasetCatalog.list():
        register_converted(coco, prefix)
    # Few phantoms can leave the validation split without a patient: then no evaluation.
    val = f'("{prefix}_val",)' if DatasetCatalog.get(f"{prefix}_val") else "()"
    opts = ["DATASETS.TRAIN", f'("{prefix}_train",)', "DATASETS.TEST", val,
            "OUTPUT_DIR", str(model_dir), *options.opts]
    if options.max_iter:
        opts += schedule_overrides(options.max_iter)
    cfg = load_config(options.config, opts)
    processes = options.train_processes if cfg.MODEL.DEVICE == "cpu" else 1
    if processes < 1 or cfg.SOLVER.IMS_PER_BATCH % processes:
        raise LumbarsegError(f"{processes} training processes cannot split a batch of "
                             f"{cfg.SOLVER.IMS_PER_BATCH} images (SOLVER.IMS_PER_BATCH)")
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.mkdir(parents=True)
    # Seeded like tools/train_net.py (cfg.SEED), else from the phantoms' seed: the same recipe
    # trains the same model on one machine, which a demo's printed numbers need.
    seed = cfg.SEED if cfg.SEED >= 0 else options.seed
    launch(_train_process, processes, dist_url="auto",
           args=(options.config, opts, str(coco), prefix, seed))
    # Inference only needs the architecture: no dataset names that exist only in this process.
    cfg.defrost()
    cfg.DATASETS.TRAIN, cfg.DATASETS.TEST = (), ()
    cfg_path.write_text(cfg.dump())
    write_json_atomic(stamp, {"fingerprint": fingerprint})
    return cfg_path, weights, False


def _train_process(config: str, opts: list[str], coco: str, prefix: str, seed: int) -> None:
    """One training process (of one or several launched on this machine's cores)."""
    from detectron2.data import DatasetCatalog
    from detectron2.utils import comm
    from detectron2.utils.env import seed_all_rng
    from detectron2.utils.logger import setup_logger

    from lumbarseg.config import load_config
    from lumbarseg.data.register import register_converted
    from lumbarseg.engine import Trainer
    from lumbarseg.engine.hooks import ConsoleProgress

    if f"{prefix}_train" not in DatasetCatalog.list():  # a launched process starts empty
        register_converted(Path(coco), prefix)
    cfg = load_config(config, opts)
    # Detectron2's detailed log goes to model/log.txt; the console gets one line per 50 iters.
    setup_logger(cfg.OUTPUT_DIR, name="detectron2", abbrev_name="d2", configure_stdout=False,
                 distributed_rank=comm.get_rank())
    # Each process its own augmentation stream, as Detectron2's default_setup seeds them.
    seed_all_rng(seed + comm.get_rank())
    trainer = Trainer(cfg)
    trainer.register_hooks([ConsoleProgress(50)])
    trainer.resume_or_load(resume=False)
    trainer.train()


def heldout_folder(coco: Path, out: Path) -> tuple[Path, Path]:
    """Link the test split's DICOM files into one folder; write its ground truth keyed by the
    path relative to that folder (what ``lumbarseg infer`` records as ``file_name``)."""
    test = json.loads((coco / "annotations_test.json").read_text())
    if not test["images"]:
        raise LumbarsegError("the held-out split has no patient: generate more phantoms (--n)")
    sources = [Path(img["source_file"]) for img in test["images"]]
    common = Path(os.path.commonpath([str(s.parent) for s in sources]))
    folder = out / "heldout_dicom"
    if folder.exists():
        shutil.rmtree(folder)
    for img, src in zip(test["images"], sources, strict=True):
        rel = src.relative_to(common)
        dst = folder / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        img["file_name"] = rel.as_posix()
    gt = out / "heldout_gt.json"
    write_json_atomic(gt, test)
    return folder, gt


def align_ground_truth(gt_path: Path, run_dir: Path, out_path: Path) -> Path:
    """Ground truth renumbered to the image ids of an inference run, matched by relative path
    (read from the run's private linkage: the run's own outputs name images by key only).

    Images the run did not process (failures) stay in with new ids, so they count as misses."""
    gt = json.loads(gt_path.read_text())
    folder = OutputFolder(run_dir)
    linkage = folder.linkage()
    run_ids = {folder.relative_path(img, linkage): img["id"] for img in folder.images()}
    next_id = max(run_ids.values(), default=0) + 1
    remap = {}
    for img in gt["images"]:
        new_id = run_ids.get(img["file_name"])
        if new_id is None:
            new_id, next_id = next_id, next_id + 1
        remap[img["id"]] = img["id"] = new_id
    for ann in gt["annotations"]:
        ann["image_id"] = remap[ann["image_id"]]
    write_json_atomic(out_path, gt)
    return out_path


def _annotation_entry(source_annotation: str) -> str:
    """The file name inside ``annotations.json[<file name>]``, the converter's record of
    which entry of its input an image came from."""
    return source_annotation[source_annotation.index("[") + 1 : -1]


def measurement_errors(run_dir: Path, phantom_annotations: Path, gt: Path) -> dict[str, float]:
    """Lordosis error of the labelled predictions against the generator's recorded truth."""
    truth = {img["file_name"]: img["lumbarseg_truth"]
             for img in json.loads(phantom_annotations.read_text())["images"]}
    # held-out file (the run's relative path) -> its entry in the phantom annotations
    entry = {img["file_name"]: _annotation_entry(img["source_annotation"])
             for img in json.loads(gt.read_text())["images"]}
    errors = []
    folder = OutputFolder(run_dir)
    linkage = folder.linkage()
    for _, record, _ in folder.records():
        measured = ((record or {}).get("measurements") or {}).get("lordosis_deg")
        relative = folder.relative_path(record, linkage) if record else None
        expected = truth.get(entry.get(relative or "", "")) if record else None
        if measured is None or expected is None or expected.get("lordosis_deg") is None:
            continue
        errors.append(abs(measured - expected["lordosis_deg"]))
    if not errors:
        return {"lordosis_images": 0}
    return {"lordosis_mae_deg": float(np.mean(errors)),
            "lordosis_max_err_deg": float(np.max(errors)), "lordosis_images": len(errors)}


def run_demo(options: DemoOptions) -> int:
    from lumbarseg.evaluation import evaluate_coco_files, format_markdown, write_results
    from lumbarseg.export import export_run
    from lumbarseg.inference import InferenceOptions, run_inference
    from lumbarseg.report import build_report

    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    with Step(timings, "phantoms + COCO conversion"):
        data = prepare_data(options, out)
    with Step(timings, "training (CPU)") as step:
        config, weights, reused = train_or_reuse(options, data["coco"], out)
        if reused:
            print(f"[demo] reusing {weights} (same recipe; --retrain to train again)")
        step.name = "training (reused)" if reused else step.name
    with Step(timings, "batch inference on held-out DICOMs"):
        folder, gt = heldout_folder(data["coco"], out)
        run_dir = out / "run"
        status = run_inference(InferenceOptions(
            config=str(config), weights=str(weights), inputs=[str(folder)], out=str(run_dir),
            device="cpu", overlays=True, progress=False,
        ))
    with Step(timings, "evaluation, DICOM SEG, report"):
        aligned = align_ground_truth(gt, run_dir, out / "heldout_gt_aligned.json")
        results = evaluate_coco_files(run_dir / "predictions.json", aligned)
        results["measurements"] = measurement_errors(run_dir, data["phantom"], gt)
        write_results(results, run_dir / "evaluation")
        export_run(run_dir)
        report = build_report(run_dir)
    total = time.perf_counter() - start
    print()
    print(format_markdown(results), end="")
    errors = results["measurements"]
    if errors.get("lordosis_images"):
        print(f"\nlordosis vs phantom truth on {errors['lordosis_images']} images: mean abs error "
              f"{errors['lordosis_mae_deg']:.1f} deg, max {errors['lordosis_max_err_deg']:.1f} deg")
    print()
    for name, seconds in timings.items():
        print(f"  {name:<40} {seconds:7.1f} s")
    print(f"  {'total':<40} {total:7.1f} s")
    print(f"\nreport: {report}\npredictions: {run_dir / 'predictions.json'}")
    return status

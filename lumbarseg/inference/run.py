"""Orchestration: discover -> shard -> (resume) -> decode in workers -> batched model ->
label + write (inline, or in finisher processes) -> shard status -> merge (rank 0 / the last
shard to finish). Each step is a function of its own (``select_work``, ``load_models``,
``run_shard``, ``write_status``, ``merge_if_last``); ``_worker`` only chains them.

Several GPUs or machines go through Detectron2's ``launch``: every rank takes a disjoint
shard of the sorted input list and writes its own per-image records, and rank 0 merges.
External sharding (``--shard i/n``, e.g. a job array) composes with it; whichever job
finishes last merges, and merging is idempotent, so two jobs racing produce the same files.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lumbarseg.errors import LumbarsegError, error_reason
from lumbarseg.inference.discovery import (
    InputItem,
    Skipped,
    discover,
    input_root,
    shard,
)
from lumbarseg.inference.predictor import BLOCK_BATCHES
from lumbarseg.inference.writers import (
    RECORD_VERSION,
    ImageRecord,
    OutputFolder,
    burned_in,
    file_reasons,
    read_secret,
    record_flags,
)

logger = logging.getLogger("lumbarseg.inference")


@dataclass
class InferenceOptions:
    config: str
    weights: str
    inputs: list[str]
    out: str
    opts: list[str] = field(default_factory=list)
    # Optional second model (e.g. PointRend next to Mask R-CNN) whose detections are fused.
    fuse_config: str | None = None
    fuse_weights: str | None = None
    device: str | None = None  # None: CUDA when available
    batch_size: int = 4
    num_workers: int | None = None  # decoding processes; None: from the CPU count and device
    # Processes that label and write results (the CPU side of each image); 0 = inline in the
    # main process. None: processes on CUDA (the GIL would cap the GPU), inline on CPU.
    label_workers: int | None = None
    amp: bool = True
    resume: bool = False
    overlays: bool = False
    keep_phi: bool = False
    # Relative paths in the records, images.json, summary.csv, run.json (and input_root);
    # off: the image key only, the paths in private/linkage.csv.
    keep_paths: bool = False
    # File holding the image-key secret (same keys in several output folders); None: the
    # run's own random one in OUT/private/image_secret.txt.
    image_secret_file: str | None = None
    # Overlays of images flagged BurnedInAnnotation YES drawn on their pixels (off: on a
    # blank canvas, so the burned-in text stays out of shareable images).
    show_burned_in: bool = False
    shard: tuple[int, int] = (0, 1)
    max_images: int | None = None  # process at most this many (then stop, as if interrupted)
    use_postprocess: bool = True
    progress: bool = True
    num_gpus: int = 1
    num_machines: int = 1
    machine_rank: int = 0
    dist_url: str = "auto"
    runtime: str = "pytorch"  # or "onnxruntime" (lumbarseg.deploy); a .lsm config is a bundle


def _cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 2


def default_workers(local_processes: int = 1, device: str = "cuda") -> int:
    """Decoding processes. On a CPU-only run, workers take cores from the model: measured on
    2 cores, overlap (a decoding worker, concurrent labelling) made runs 10-25 % slower, so
    small machines decode inline and bigger ones give the model most cores."""
    cpus = _cpus() // max(1, local_processes)
    if device.startswith("cpu"):
        return 0 if cpus <= 4 else min(4, cpus // 4)
    return max(1, min(8, cpus - 1))


def run_inference(options: InferenceOptions) -> int:
    """Run (launching one process per GPU when asked); return the exit status."""
    world = options.num_gpus * options.num_machines
    if world <= 1:
        return _worker(options)
    from detectron2.engine import launch

    launch(_worker, options.num_gpus, num_machines=options.num_machines,
           machine_rank=options.machine_rank, dist_url=options.dist_url, args=(options,))
    if options.machine_rank != 0:
        return 0
    return 1 if OutputFolder(options.out).read_run()["counts"]["failed"] else 0


def _fingerprint(cfgs: list[Any], weights: list[str], labeller: str) -> str:
    """Identifies what produced a record; --resume only trusts records with the same one:
    the configs (with their ``LUMBARSEG.LABELLER`` settings), the weights, the labeller and
    the lumbarseg version (a new version may label differently)."""
    from lumbarseg import __version__

    digest = hashlib.sha256(f"lumbarseg {__version__}\0".encode())
    for cfg, w in zip(cfgs, weights, strict=True):
        cfg = cfg.clone()
        cfg.defrost()
        cfg.MODEL.DEVICE = ""
        cfg.OUTPUT_DIR = ""
        digest.update(cfg.dump().encode())
        size = os.path.getsize(w) if os.path.isfile(w) else -1
        digest.update(f"\0{w}\0{size}\0".encode())
    digest.update(labeller.encode())
    return digest.hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    """Plain JSON types (labellers may hand back numpy scalars and arrays)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


# --- the steps of one process's run ---------------------------------------------------------
@dataclass(frozen=True)
class Process:
    """Where this process stands: its rank among the launched processes, and its device."""

    rank: int
    world: int
    device: str


@dataclass(frozen=True)
class Models:
    """The configs and weights to run (the main model, then the optional fused one) and the
    fingerprint that identifies them together with the labeller."""

    cfgs: list[Any]
    weights: list[str]
    labeller: str
    model_id: str
    labeller_config: Any = None  # LabellerConfig from the main config's LUMBARSEG.LABELLER


@dataclass(frozen=True)
class WorkPlan:
    """This shard's work: everything discovered, the shard, and the positions in it to do."""

    items: list[InputItem]  # all discovered inputs, in id order
    discovery_skips: list[Skipped]
    index: int  # this shard among ``count``: external shards x launched processes
    count: int
    mine: list[InputItem]  # this shard's inputs
    blocks: list[int]  # block of each position in ``mine``
    chosen: list[int]  # positions in ``mine`` to process now
    done_before: int  # positions complete from an earlier run (--resume)
    limited: bool  # --max-images stopped short of the shard

    @property
    def todo(self) -> list[InputItem]:
        return [self.mine[pos] for pos in self.chosen]


@dataclass
class ShardResult:
    failures: dict[str, str]
    skipped: dict[str, str]
    elapsed_s: float
    num_workers: int


def resolve_process(options: InferenceOptions) -> Process:
    """Rank, world size and the device (a launched process gets its local GPU)."""
    import torch
    from detectron2.utils import comm

    rank, world = comm.get_rank(), comm.get_world_size()
    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and world > 1:
        device = f"cuda:{comm.get_local_rank()}"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LumbarsegError("--device cuda asked for, but PyTorch sees no CUDA device")
    return Process(rank, world, device)


def resolve_models(options: InferenceOptions, device: str) -> Models:
    """Configs (on ``device``) and weights of the model(s), and their fingerprint."""
    from lumbarseg.config.defaults import labeller_config
    from lumbarseg.deploy import model_configs
    from lumbarseg.inference.labelling import Labeller

    cfgs, weights = model_configs(options)  # config + checkpoint or a .lsm bundle (+ fused)
    for cfg in cfgs:
        cfg.MODEL.DEVICE = device
    labeller = Labeller(use_postprocess=options.use_postprocess).name
    runtime_tag = "" if options.runtime == "pytorch" else f"\0{options.runtime}"
    return Models(cfgs, weights, labeller, _fingerprint(cfgs, weights, labeller + runtime_tag),
                  labeller_config(cfgs[0]))


def select_work(options: InferenceOptions, out: OutputFolder, model_id: str,
                rank: int = 0, world: int = 1) -> WorkPlan:
    """Discovery, this process's shard, and (with --resume) what is left of it."""
    secret = (read_secret(options.image_secret_file) if options.image_secret_file
              else out.image_secret())
    items, discovery_skips = discover(options.inputs, secret)
    index = options.shard[0] * world + rank
    count = options.shard[1] * world
    mine = shard(items, index, count)
    # Batches are drawn from fixed blocks of the shard's list; a block with anything left to
    # do is redone whole, so its batches (and their rounding) match an uninterrupted run.
    block_size = max(1, options.batch_size) * BLOCK_BATCHES
    blocks = [pos // block_size for pos in range(len(mine))]
    if options.resume:
        chosen = _resume_positions(out, mine, blocks, index, count, model_id, options)
    else:
        chosen = list(range(len(mine)))
    done_before = len(mine) - len(chosen)
    limited = options.max_images is not None and len(chosen) > options.max_images
    if limited:
        chosen = chosen[: options.max_images]
    return WorkPlan(items, discovery_skips, index, count, mine, blocks, chosen, done_before,
                    limited)


def _resume_positions(out: OutputFolder, mine: list[InputItem], blocks: list[int], index: int,
                      count: int, model_id: str, options: InferenceOptions) -> list[int]:
    """Positions to redo: whole blocks with an incomplete record, and files that failed or
    were skipped last time, alone (their block-mates' batches did not include them)."""
    known_bad = out.known_bad(index, count)
    incomplete = [pos for pos, it in enumerate(mine)
                  if not out.is_complete(it, model_id, options.overlays, options.keep_paths)]
    open_blocks = {blocks[pos] for pos in incomplete if mine[pos].image_key not in known_bad}
    return [
        pos for pos in range(len(mine))
        if blocks[pos] in open_blocks or mine[pos].image_key in known_bad
    ]


def load_models(options: InferenceOptions, models: Models, device: str):
    """Build the model(s), load their weights, and wrap them in the batch predictor.

    The one place a model is loaded: another runtime (an exported model) plugs in here by
    returning an object with the ``BatchPredictor`` interface (``__call__(batch)`` and
    ``padded_shape(sample)``)."""
    from lumbarseg.deploy import build_predictor

    return build_predictor(options, models.cfgs, models.weights, device)


def run_shard(options: InferenceOptions, plan: WorkPlan, models: Models, predictor,
              out: OutputFolder, device: str) -> ShardResult:
    """Decode, predict, label and write this shard's chosen images."""
    import torch

    from lumbarseg.inference.dataset import InferenceDataset, build_loader

    workers = options.num_workers
    if workers is None:
        workers = default_workers(options.num_gpus, device)
    if device.startswith("cpu") and workers > 0:  # decoding cores are not the model's
        torch.set_num_threads(max(1, min(torch.get_num_threads(), _cpus() - workers)))
    dataset = InferenceDataset(plan.todo, models.cfgs[0], keep_phi=options.keep_phi,
                               blocks=[plan.blocks[pos] for pos in plan.chosen])
    loader = build_loader(dataset, workers, pin_memory=device.startswith("cuda"))
    context = FinishContext(
        out_root=str(out.root), model_id=models.model_id,
        use_postprocess=options.use_postprocess, overlays=options.overlays,
        keep_phi=options.keep_phi, keep_paths=options.keep_paths,
        show_burned_in=options.show_burned_in, labeller_config=models.labeller_config)
    job = _Job(plan.todo, context, options, device)
    start = time.perf_counter()
    job.process(loader, predictor)
    return ShardResult(job.failures, job.skipped, time.perf_counter() - start, workers)


def write_status(out: OutputFolder, plan: WorkPlan, model_id: str, result: ShardResult,
                 keep_paths: bool = False) -> None:
    """This shard's bookkeeping, read back by the merge and by the next --resume."""
    paths = {item.image_key: item.relative_path for item in plan.mine}
    out.write_shard_status(plan.index, plan.count, {
        "shard": plan.index, "shards": plan.count, "model": model_id,
        "items_total": len(plan.items), "items_in_shard": len(plan.mine),
        "done_before": plan.done_before, "processed": len(plan.chosen),
        "complete": not plan.limited, "elapsed_s": round(result.elapsed_s, 3),
        "failures": file_reasons(result.failures, paths, keep_paths),
        "skipped": file_reasons(result.skipped, paths, keep_paths),
    })


def merge_if_last(options: InferenceOptions, out: OutputFolder, plan: WorkPlan,
                  models: Models, device: str, num_workers: int) -> dict | None:
    """When every shard of this model has written its status: merge the final files and
    write run.json (returned). Otherwise None: a later shard will merge."""
    statuses = out.shard_statuses(plan.count)
    if statuses is None or any(
        s["model"] != models.model_id or s["items_total"] != len(plan.items) for s in statuses
    ):
        return None
    failures = {e["key"]: e["reason"] for s in statuses for e in s["failures"]}
    skipped = {e["key"]: e["reason"] for s in statuses for e in s["skipped"]}
    counts = out.merge(plan.items, failures, skipped, keep_phi=options.keep_phi,
                       keep_paths=options.keep_paths)
    root = input_root(options.inputs)
    out.write_linkage(_linkage_rows(plan, failures, skipped, root))
    processed = sum(s["processed"] for s in statuses)
    wall = max(s["elapsed_s"] for s in statuses)
    paths = {item.image_key: item.relative_path for item in plan.items}
    for skip in plan.discovery_skips:
        paths[skip.image_key] = skip.path
        skipped[skip.image_key] = skip.reason
    run = {
        "version": RECORD_VERSION,
        "config": str(options.config), "opts": list(options.opts),
        "weights": str(options.weights),
        "fuse_config": options.fuse_config, "fuse_weights": options.fuse_weights,
        "model": models.model_id, "labeller": models.labeller, "device": device,
        "runtime": options.runtime,
        "batch_size": options.batch_size, "num_workers": num_workers,
        "world_size": plan.count,
        **({"input_root": root} if options.keep_paths else {}),
        "keep_phi": options.keep_phi, "keep_paths": options.keep_paths,
        "complete": all(s["complete"] for s in statuses),
        "counts": {
            "files_found": len(plan.items) + len(plan.discovery_skips),
            "images": len(plan.items), "ok": counts["images"],
            "predictions": counts["predictions"], "failed": len(failures),
            "skipped": len(skipped), "processed_this_run": processed,
            "done_before": sum(s["done_before"] for s in statuses),
        },
        "elapsed_s": round(wall, 3),
        "images_per_s": round(processed / wall, 3) if wall > 0 else None,
        "failures": file_reasons(failures, paths, options.keep_paths),
        "skipped": file_reasons(skipped, paths, options.keep_paths),
    }
    out.write_run(run)
    return run


def _linkage_rows(plan: WorkPlan, failures: dict[str, str], skipped: dict[str, str],
                  root: str) -> list[dict]:
    """One row per discovered file (images, then files that are not images)."""
    rows = []
    for item in plan.items:
        status = ("failed" if item.image_key in failures
                  else "skipped" if item.image_key in skipped else "ok")
        rows.append({"image_key": item.image_key, "image_id": item.image_id, "status": status,
                     "relative_path": item.relative_path, "source_path": item.path})
    for skip in plan.discovery_skips:
        rows.append({"image_key": skip.image_key, "image_id": "", "status": "skipped",
                     "relative_path": skip.path,
                     "source_path": os.path.join(root, skip.path)})
    return rows


def _worker(options: InferenceOptions) -> int:
    """One process's run: the steps above, in order; the exit status."""
    from detectron2.utils import comm

    proc = resolve_process(options)
    models = resolve_models(options, proc.device)
    out = OutputFolder(options.out)
    plan = select_work(options, out, models.model_id, proc.rank, proc.world)
    out.root.mkdir(parents=True, exist_ok=True)
    predictor = load_models(options, models, proc.device)
    if proc.rank == 0:
        logger.info("%d images found, %d in this shard, %d done earlier, %d to do",
                    len(plan.items), len(plan.mine), plan.done_before, len(plan.chosen))
    result = run_shard(options, plan, models, predictor, out, proc.device)
    write_status(out, plan, models.model_id, result, options.keep_paths)
    if proc.world > 1:
        comm.synchronize()
    status = 1 if result.failures else 0
    if proc.rank != 0:
        return status
    run = merge_if_last(options, out, plan, models, proc.device, result.num_workers)
    if run is None:
        logger.info("shard %d/%d done; the last shard to finish merges the outputs",
                    plan.index, plan.count)
        return status
    logger.info("%d ok, %d failed, %d skipped; outputs in %s", run["counts"]["ok"],
                run["counts"]["failed"], run["counts"]["skipped"], out.root)
    return 1 if run["failures"] else 0


class _Job:
    """One process's share: consumes decoded samples, runs the model, hands results to the
    finishers (inline or processes), and collects failures and skips."""

    def __init__(self, items: list[InputItem], context: FinishContext,
                 options: InferenceOptions, device: str):
        self.items, self.context, self.options = items, context, options
        self.failures: dict[str, str] = {}
        self.skipped: dict[str, str] = {}
        workers = options.label_workers
        if workers is None:
            workers = min(4, default_workers() // 2) if device.startswith("cuda") else 0
        self.label_workers = workers

    def process(self, loader, predictor) -> None:
        from lumbarseg.inference.predictor import shape_batches
        from lumbarseg.inference.progress import Progress

        progress = Progress(len(self.items), enabled=self.options.progress)
        pending: deque[tuple[InputItem, Future]] = deque()
        with _finisher_pool(self.label_workers) as pool:
            limit = 4 * max(1, self.options.batch_size, self.label_workers)
            try:
                for batch in shape_batches(loader, self.options.batch_size,
                                           key=predictor.padded_shape):
                    if batch[0].get("error") is not None:
                        self._bad(batch[0], progress)
                        continue
                    for sample, detections in self._predict(predictor, batch, progress):
                        item = self.items[sample["index"]]
                        job = FinishJob.of(item, sample, detections)
                        pending.append((item, pool.submit(finish_image, self.context, job)))
                    while pending and (len(pending) > limit or pending[0][1].done()):
                        self._collect(*pending.popleft(), progress)
                while pending:
                    self._collect(*pending.popleft(), progress)
            finally:
                progress.close()

    def _bad(self, sample: dict, progress) -> None:
        item = self.items[sample["index"]]
        if sample.get("skipped"):
            self.skipped[item.image_key] = sample["error"]
            progress.update(1)
        else:
            self.failures[item.image_key] = sample["error"]
            progress.update(1, failed=1)

    def _predict(self, predictor, batch: list[dict], progress):
        """Batched forward; if a batch fails (e.g. out of memory), each image alone."""
        try:
            yield from zip(batch, predictor(batch), strict=True)
            return
        except Exception as exc:
            if len(batch) == 1:
                self.failures[self.items[batch[0]["index"]].image_key] = (
                    f"model failed: {error_reason(exc)}")
                progress.update(1, failed=1)
                return
        for sample in batch:
            yield from self._predict(predictor, [sample], progress)

    def _collect(self, item: InputItem, future: Future, progress) -> None:
        try:
            future.result()
            progress.update(1)
        except Exception as exc:
            self.failures[item.image_key] = f"labelling/writing failed: {error_reason(exc)}"
            progress.update(1, failed=1)


# --- labelling and writing: the CPU side of each image, inline or in processes ---------------
@dataclass(frozen=True)
class FinishContext:
    """What every finisher needs besides the image: plain values, so it pickles to a process."""

    out_root: str
    model_id: str
    use_postprocess: bool
    overlays: bool
    keep_phi: bool
    keep_paths: bool = False
    show_burned_in: bool = False
    labeller_config: Any = None  # a LabellerConfig (None: its defaults)


@dataclass(frozen=True)
class FinishJob:
    """One image's detections and what labelling and writing need, as picklable values."""

    item: InputItem
    detections: dict
    gray: np.ndarray
    height: int
    width: int
    pixel_spacing_mm: list[float] | None
    source: dict
    phi: dict | None
    pixel_spacing_source: str | None = None
    caudal: tuple[float, float] | None = None  # toward the feet, from the DICOM header

    @classmethod
    def of(cls, item: InputItem, sample: dict, detections: dict) -> FinishJob:
        return cls(item, detections, np.asarray(sample["gray"]), sample["height"],
                   sample["width"], sample["pixel_spacing_mm"], sample["source"],
                   sample.get("phi"), sample.get("pixel_spacing_source"), sample.get("caudal"))


@contextlib.contextmanager
def _finisher_pool(workers: int):
    """Processes (spawned: the parent holds CUDA and threads) or, with 0, inline."""
    if workers > 0:
        import multiprocessing

        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    else:
        pool = _Inline()
    with pool:
        yield pool


class _Inline:
    """Executor interface, run in the caller's thread: on a small CPU machine a labelling
    process only fights the model's threads for the same cores."""

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc) -> None:
        return None


def image_record(context: FinishContext, job: FinishJob, labelled: dict) -> ImageRecord:
    """The per-image record: identity, size, spacing (and which), model, source, then the
    labelling; the relative path only with --keep-paths."""
    item = job.item
    record = {
        "version": RECORD_VERSION, "image_key": item.image_key, "image_id": item.image_id,
        **({"relative_path": item.relative_path} if context.keep_paths else {}),
        "height": job.height, "width": job.width,
        "pixel_spacing_mm": job.pixel_spacing_mm,
        "pixel_spacing_source": job.pixel_spacing_source if job.pixel_spacing_mm else None,
        "model": context.model_id, "source": job.source, **labelled,
    }
    if context.keep_phi and job.phi:
        record["phi"] = job.phi
    return _jsonable(record)


def finish_image(context: FinishContext, job: FinishJob) -> None:
    """Label one image's detections, write its overlay (if asked), then its record."""
    from lumbarseg.inference.labelling import Labeller
    from lumbarseg.inference.predictor import expand_instances

    labeller = Labeller(config=context.labeller_config, use_postprocess=context.use_postprocess)
    labelled = labeller(expand_instances(job.detections), job.gray, job.pixel_spacing_mm,
                        caudal=job.caudal)
    record = image_record(context, job, labelled)
    out = OutputFolder(context.out_root)
    if context.overlays:  # overlay first: a record on disk means everything is done
        from lumbarseg.inference.overlay import draw_overlay, shareable_background
        from lumbarseg.io.atomic import write_bytes_atomic

        background = job.gray
        if burned_in(record) and not context.show_burned_in:
            background = shareable_background(job.gray)
        png = draw_overlay(background, record, record_flags(record))
        write_bytes_atomic(out.overlay_path(job.item.image_key), png)
    out.write_record(record)

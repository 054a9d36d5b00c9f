"""Orchestration: discover -> shard -> (resume) -> decode in workers -> batched model ->
label + write in threads -> shard status -> merge (rank 0 / the last shard to finish).

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

from lumbarseg.errors import LumbarsegError
from lumbarseg.inference.discovery import InputItem, discover, input_root, shard
from lumbarseg.inference.predictor import BLOCK_BATCHES
from lumbarseg.inference.writers import RECORD_VERSION, OutputFolder, flag_list

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
    2 cores, overlap (a decoding worker, labelling threads) made runs 10-25 % slower, so
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
    import json

    with open(os.path.join(options.out, "run.json"), encoding="utf-8") as handle:
        return 1 if json.load(handle)["counts"]["failed"] else 0


def _fingerprint(cfgs: list[Any], weights: list[str], labeller: str) -> str:
    """Identifies what produced a record; --resume only trusts records with the same one."""
    digest = hashlib.sha256()
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


def _worker(options: InferenceOptions) -> int:
    import torch
    from detectron2.utils import comm

    from lumbarseg.deploy import build_predictor, model_configs
    from lumbarseg.inference.dataset import InferenceDataset, build_loader
    from lumbarseg.inference.labelling import Labeller

    rank, world = comm.get_rank(), comm.get_world_size()
    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and world > 1:
        device = f"cuda:{comm.get_local_rank()}"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LumbarsegError("--device cuda asked for, but PyTorch sees no CUDA device")

    cfgs, weights = model_configs(options)  # config + checkpoint or a .lsm bundle (+ fused)
    for cfg in cfgs:
        cfg.MODEL.DEVICE = device
    labeller = Labeller(use_postprocess=options.use_postprocess)
    runtime_tag = "" if options.runtime == "pytorch" else f"\0{options.runtime}"
    model_id = _fingerprint(cfgs, weights, labeller.name + runtime_tag)

    items, discovery_skips = discover(options.inputs)
    index = options.shard[0] * world + rank
    count = options.shard[1] * world
    mine = shard(items, index, count)
    out = OutputFolder(options.out)
    out.root.mkdir(parents=True, exist_ok=True)
    # Batches are drawn from fixed blocks of the shard's list; a block with anything left to
    # do is redone whole, so its batches (and their rounding) match an uninterrupted run.
    block_size = max(1, options.batch_size) * BLOCK_BATCHES
    blocks = [pos // block_size for pos in range(len(mine))]
    if options.resume:
        # Files that failed or were skipped last time are retried alone: their block-mates'
        # batches did not include them, so those need no redoing.
        known_bad = out.known_bad(index, count)
        incomplete = [
            pos for pos, it in enumerate(mine)
            if not out.is_complete(it, model_id, options.overlays)
        ]
        open_blocks = {
            blocks[pos] for pos in incomplete if mine[pos].relative_path not in known_bad
        }
        chosen = [
            pos for pos in range(len(mine))
            if blocks[pos] in open_blocks or mine[pos].relative_path in known_bad
        ]
    else:
        chosen = list(range(len(mine)))
    done_before = len(mine) - len(chosen)
    limited = options.max_images is not None and len(chosen) > options.max_images
    if limited:
        chosen = chosen[: options.max_images]
    todo = [mine[pos] for pos in chosen]

    predictor = build_predictor(options, cfgs, weights, device)
    workers = options.num_workers
    if workers is None:
        workers = default_workers(options.num_gpus, device)
    if device.startswith("cpu") and workers > 0:  # decoding cores are not the model's
        torch.set_num_threads(max(1, min(torch.get_num_threads(), _cpus() - workers)))
    dataset = InferenceDataset(todo, cfgs[0], keep_phi=options.keep_phi,
                               blocks=[blocks[pos] for pos in chosen])
    loader = build_loader(dataset, workers, pin_memory=device.startswith("cuda"))
    if rank == 0:
        logger.info("%d images found, %d in this shard, %d done earlier, %d to do",
                    len(items), len(mine), done_before, len(todo))

    job = _Job(todo, out, model_id, options, device)
    start = time.perf_counter()
    job.process(loader, predictor)
    elapsed = time.perf_counter() - start
    status = {
        "shard": index, "shards": count, "model": model_id, "items_total": len(items),
        "items_in_shard": len(mine), "done_before": done_before, "processed": len(todo),
        "complete": not limited, "elapsed_s": round(elapsed, 3),
        "failures": sorted(job.failures.items()), "skipped": sorted(job.skipped.items()),
    }
    out.write_shard_status(index, count, status)
    if world > 1:
        comm.synchronize()
    if rank != 0:
        return 1 if job.failures else 0
    statuses = out.shard_statuses(count)
    if statuses is None or any(
        s["model"] != model_id or s["items_total"] != len(items) for s in statuses
    ):
        logger.info("shard %d/%d done; the last shard to finish merges the outputs", index, count)
        return 1 if job.failures else 0
    failures = {p: r for s in statuses for p, r in s["failures"]}
    skipped = {p: r for s in statuses for p, r in s["skipped"]}
    counts = out.merge(items, failures, skipped, keep_phi=options.keep_phi)
    processed = sum(s["processed"] for s in statuses)
    wall = max(s["elapsed_s"] for s in statuses)
    run = {
        "version": RECORD_VERSION,
        "config": str(options.config), "opts": list(options.opts),
        "weights": str(options.weights),
        "fuse_config": options.fuse_config, "fuse_weights": options.fuse_weights,
        "model": model_id, "labeller": labeller.name, "device": device,
        "runtime": options.runtime,
        "batch_size": options.batch_size, "num_workers": workers, "world_size": count,
        "input_root": input_root(options.inputs),
        "keep_phi": options.keep_phi,
        "complete": all(s["complete"] for s in statuses),
        "counts": {
            "files_found": len(items) + len(discovery_skips), "images": len(items),
            "ok": counts["images"], "predictions": counts["predictions"],
            "failed": len(failures), "skipped": len(skipped) + len(discovery_skips),
            "processed_this_run": processed, "done_before": sum(s["done_before"] for s in statuses),
        },
        "elapsed_s": round(wall, 3),
        "images_per_s": round(processed / wall, 3) if wall > 0 else None,
        "failures": [{"path": p, "reason": r} for p, r in sorted(failures.items())],
        "skipped": [{"path": p, "reason": r} for p, r in sorted(
            list(skipped.items()) + [(s.path, s.reason) for s in discovery_skips])],
    }
    out.write_run(run)
    logger.info("%d ok, %d failed, %d skipped; outputs in %s", counts["images"],
                len(failures), run["counts"]["skipped"], out.root)
    return 1 if failures else 0


class _Job:
    """One process's share: consumes decoded samples, runs the model, hands results to
    writer threads, and collects failures and skips."""

    def __init__(self, items: list[InputItem], out: OutputFolder, model_id: str,
                 options: InferenceOptions, device: str):
        self.items, self.out = items, out
        self.model_id, self.options = model_id, options
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
        context = (str(self.out.root), self.model_id, self.options.use_postprocess,
                   self.options.overlays, self.options.keep_phi)
        with _finisher_pool(self.label_workers, context) as pool:
            limit = 4 * max(1, self.options.batch_size, self.label_workers)
            try:
                for batch in shape_batches(loader, self.options.batch_size,
                                           key=predictor.padded_shape):
                    if batch[0].get("error") is not None:
                        self._bad(batch[0], progress)
                        continue
                    for sample, detections in self._predict(predictor, batch, progress):
                        item = self.items[sample["index"]]
                        job = _finish_job(item, sample, detections)
                        pending.append((item, pool.submit(_finish_image, job)))
                    while pending and (len(pending) > limit or pending[0][1].done()):
                        self._collect(*pending.popleft(), progress)
                while pending:
                    self._collect(*pending.popleft(), progress)
            finally:
                progress.close()

    def _bad(self, sample: dict, progress) -> None:
        item = self.items[sample["index"]]
        if sample.get("skipped"):
            self.skipped[item.relative_path] = sample["error"]
            progress.update(1)
        else:
            self.failures[item.relative_path] = sample["error"]
            progress.update(1, failed=1)

    def _predict(self, predictor, batch: list[dict], progress):
        """Batched forward; if a batch fails (e.g. out of memory), each image alone."""
        from lumbarseg.inference.dataset import error_reason

        try:
            yield from zip(batch, predictor(batch), strict=True)
            return
        except Exception as exc:
            if len(batch) == 1:
                self.failures[self.items[batch[0]["index"]].relative_path] = (
                    f"model failed: {error_reason(exc)}")
                progress.update(1, failed=1)
                return
        for sample in batch:
            yield from self._predict(predictor, [sample], progress)

    def _collect(self, item: InputItem, future: Future, progress) -> None:
        from lumbarseg.inference.dataset import error_reason

        try:
            future.result()
            progress.update(1)
        except Exception as exc:
            self.failures[item.relative_path] = f"labelling/writing failed: {error_reason(exc)}"
            progress.update(1, failed=1)


# --- labelling and writing: the CPU side of each image, in threads or processes -------------
_CONTEXT: dict[str, Any] = {}


def _init_finisher(out_root: str, model_id: str, use_postprocess: bool, overlays: bool,
                   keep_phi: bool) -> None:
    from lumbarseg.inference.labelling import Labeller

    _CONTEXT.update(out=OutputFolder(out_root), model_id=model_id, overlays=overlays,
                    keep_phi=keep_phi, labeller=Labeller(use_postprocess=use_postprocess))


@contextlib.contextmanager
def _finisher_pool(workers: int, context: tuple):
    """Processes (spawned: the parent holds CUDA and threads) or, with 0, inline."""
    if workers > 0:
        import multiprocessing

        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_finisher, initargs=context)
    else:
        _init_finisher(*context)
        pool = _Inline()
    with pool:
        yield pool


class _Inline:
    """Executor interface, run in the caller's thread: on a small CPU machine a labelling
    thread only fights the model's threads for the same cores."""

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


def _finish_job(item: InputItem, sample: dict, detections: dict) -> dict:
    """What labelling and writing need, as plain picklable values."""
    return {
        "item": item, "detections": detections, "gray": np.asarray(sample["gray"]),
        "height": sample["height"], "width": sample["width"],
        "pixel_spacing_mm": sample["pixel_spacing_mm"], "source": sample["source"],
        "phi": sample.get("phi"),
    }


def _finish_image(job: dict) -> None:
    """Label one image's detections, write its overlay (if asked), then its record."""
    from lumbarseg.inference.predictor import expand_instances

    ctx = _CONTEXT
    item: InputItem = job["item"]
    instances = expand_instances(job["detections"])
    labelled = ctx["labeller"](instances, job["gray"], job["pixel_spacing_mm"])
    record = {
        "version": RECORD_VERSION, "image_key": item.image_key, "image_id": item.image_id,
        "relative_path": item.relative_path, "height": job["height"], "width": job["width"],
        "pixel_spacing_mm": job["pixel_spacing_mm"], "model": ctx["model_id"],
        "source": job["source"], **labelled,
    }
    if ctx["keep_phi"] and job["phi"]:
        record["phi"] = job["phi"]
    record = _jsonable(record)
    out: OutputFolder = ctx["out"]
    if ctx["overlays"]:  # overlay first: a record on disk means everything is done
        from lumbarseg.inference.overlay import draw_overlay
        from lumbarseg.io.atomic import write_bytes_atomic

        png = draw_overlay(job["gray"], record, flag_list(record.get("flags") or {}))
        write_bytes_atomic(out.overlay_path(item.image_key), png)
    out.write_record(record)

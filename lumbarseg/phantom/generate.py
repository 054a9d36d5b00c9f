"""A phantom dataset on disk: DICOM files plus one COCO ``annotations.json`` with the truth.

Every image has its own random stream (``SeedSequence(seed, spawn_key=(0, index))``), and the
patient/study/series plan is drawn up front, so the output is byte-identical for a seed no
matter how many worker processes render it.
"""

from __future__ import annotations

import functools
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lumbarseg.errors import LumbarsegError
from lumbarseg.io.atomic import write_json_atomic
from lumbarseg.levels import COCO_CATEGORIES, category_id
from lumbarseg.phantom.config import PhantomConfig
from lumbarseg.phantom.dicom_writer import (
    SeriesIdentity,
    build_dataset,
    fake_uid,
    make_patient,
    make_study,
    write_dicom,
)
from lumbarseg.phantom.params import sample_params, sample_patient
from lumbarseg.phantom.render import render_phantom

IMAGES_PER_STUDY = 2
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Job:
    index: int
    patient: int
    study: int
    instance: int
    series: SeriesIdentity
    spacing_tag: str
    compressed: bool


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def plan_jobs(n: int, seed: int, config: PhantomConfig) -> list[Job]:
    """Group images into fake patients (several images each), studies and series."""
    rng = _rng(seed, 7)
    jobs: list[Job] = []
    patient = 0
    lo, hi = config.images_per_patient
    while len(jobs) < n:
        count = min(int(rng.integers(lo, hi + 1)), n - len(jobs))
        for study in range((count + IMAGES_PER_STUDY - 1) // IMAGES_PER_STUDY):
            modality = "CR" if rng.random() < 0.5 else "DX"
            series = SeriesIdentity(
                uid=fake_uid(seed, "series", patient, study),
                number=1 + study,
                modality=modality,
                photometric="MONOCHROME1" if rng.random() < config.monochrome1_share
                else "MONOCHROME2",
                bits_stored=int(rng.choice([10, 12, 12, 14, 15, 16])),
            )
            tag = "PixelSpacing" if modality == "CR" else "ImagerPixelSpacing"
            for k in range(min(IMAGES_PER_STUDY, count - study * IMAGES_PER_STUDY)):
                jobs.append(Job(index=len(jobs), patient=patient, study=study, instance=k + 1,
                                series=series, spacing_tag=tag,
                                compressed=bool(rng.random() < config.compressed_share)))
        patient += 1
    return jobs


def _render_job(job: Job, seed: int, config: PhantomConfig, out_dir: str) -> tuple[dict, list]:
    traits = sample_patient(_rng(seed, 1, job.patient), config, job.patient)
    rng = _rng(seed, 0, job.index)
    params = sample_params(rng, config, traits)
    params.dicom = {"modality": job.series.modality, "photometric": job.series.photometric,
                    "bits_stored": job.series.bits_stored, "compressed": job.compressed,
                    "spacing_tag": job.spacing_tag}
    image = render_phantom(rng, params)
    study = make_study(seed, job.patient, job.study)
    first_year = int(make_study(seed, job.patient, 0).date[:4])  # age at the first study
    patient = make_patient(seed, job.patient, traits.sex, traits.age, first_year)
    rel = f"dicom/{patient.patient_id}/st{job.study + 1}/im{job.index:05d}.dcm"
    ds = build_dataset(image, patient, study, job.series, job.instance,
                       fake_uid(seed, "image", job.index), job.compressed, job.spacing_tag)
    write_dicom(Path(out_dir) / rel, ds)
    truth = dict(image.truth)
    truth["dicom"] = {**params.dicom, "transfer_syntax": str(ds.file_meta.TransferSyntaxUID)}
    height, width = image.pixels.shape
    entry = {"id": job.index + 1, "file_name": rel, "height": height, "width": width,
             "patient_id": patient.patient_id, "lumbarseg_truth": truth}
    anns = [{"category_id": category_id(inst["level"]), "segmentation": inst["polygons"],
             "area": inst["area"], "bbox": inst["bbox"], "iscrowd": 0, "corners": inst["corners"]}
            for inst in image.instances]
    return entry, anns


def _single_threaded() -> None:
    """One OpenCV thread per worker process: the processes are the parallelism."""
    import cv2

    cv2.setNumThreads(1)


def generate_dataset(out_dir: str | Path, n: int, seed: int, size: int = 512,
                     difficulty: str = "normal", postop_share: float = 0.3, workers: int = 1,
                     preview: bool = False, config: PhantomConfig | None = None) -> Path:
    """Write ``n`` phantoms under ``out_dir``; return the path of ``annotations.json``."""
    if n < 1:
        raise LumbarsegError(f"--n must be at least 1, got {n}")
    config = config or PhantomConfig(size=size, difficulty=difficulty, postop_share=postop_share)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = plan_jobs(n, seed, config)
    work = functools.partial(_render_job, seed=seed, config=config, out_dir=str(out))
    if workers > 1:
        # spawn, not fork: a forked child deadlocks in OpenCV once the parent used its threads.
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers, initializer=_single_threaded) as pool:
            results = pool.map(work, jobs, chunksize=max(1, min(8, n // (4 * workers))))
    else:
        results = [work(job) for job in jobs]
    images, annotations = [], []
    for entry, anns in results:
        images.append(entry)
        for ann in anns:
            annotations.append({"id": len(annotations) + 1, "image_id": entry["id"], **ann})
    from lumbarseg import __version__

    coco = {
        "info": {"description": "lumbarseg synthetic lateral lumbar radiograph phantoms",
                 "version": __version__, "year": 2026,
                 "lumbarseg_phantom": {"format_version": FORMAT_VERSION, "seed": seed, "n": n,
                                       "size": config.size, "difficulty": config.difficulty,
                                       "postop_share": config.postop_share,
                                       "styles": list(config.styles)}},
        "licenses": [],
        "categories": COCO_CATEGORIES,
        "images": images,
        "annotations": annotations,
    }
    path = out / "annotations.json"
    write_json_atomic(path, coco)
    if preview:
        from lumbarseg.phantom.preview import write_contact_sheet

        write_contact_sheet(path, out / "preview.png")
    return path

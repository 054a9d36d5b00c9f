"""The conversion every format shares: labels, images, validation, export, splits.

Output layout of ``DIR``: ``images/NNNNNN.png`` (8-bit, exactly ``to_network_input`` of the
source image), ``annotations.json`` (all images), ``annotations_{train,val,test}.json`` with
``--split``, and ``conversion_report.json``: all meant to be shareable. Image records carry a
keyed pseudonymous ``patient_key`` and no path, UID or patient identifier unless asked
(``keep_source_paths``, ``keep_uids``); the key's secret, the image-to-source linkage and the
issue list with paths go to the private folder (``private.py``).
"""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lumbarseg.data.convert import get_reader
from lumbarseg.data.convert.images import LoadedImage, load_image, write_png
from lumbarseg.data.convert.private import PRIVATE_DIR, dataset_secret, write_private
from lumbarseg.data.convert.records import ConvertOptions, Issue, RawImage
from lumbarseg.data.convert.split import split_by_patient
from lumbarseg.data.convert.validate import InvalidPolygonError, PolygonError, clean_polygons
from lumbarseg.errors import InputFileError, LumbarsegError
from lumbarseg.io.atomic import write_json_atomic
from lumbarseg.io.dicom import NotAnImageError, patient_key
from lumbarseg.levels import COCO_CATEGORIES, LEVELS, category_id, normalize_level

IMAGES_DIR = "images"
ANNOTATIONS = "annotations.json"
REPORT = "conversion_report.json"


def split_json_name(split: str) -> str:
    return f"annotations_{split}.json"


@dataclass
class ConversionResult:
    out_dir: Path
    fmt: str
    images: list[dict] = field(default_factory=list)
    annotations: list[dict] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    splits: dict[str, list[int]] | None = None
    patient_sources: Counter = field(default_factory=Counter)
    # Private: one row per image for linkage.csv, and the patient-key secret.
    linkage: list[dict] = field(default_factory=list)
    patient_secret: str = field(default="", repr=False)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


class _ImageRefused(Exception):
    """The image is left out; the message is the reason (already specific)."""


def _levels(raw: RawImage, options: ConvertOptions, issues: list[Issue]) -> list[str | None]:
    """Level of each instance, None for dropped unknown labels; refuses unknown ones."""
    levels: list[str | None] = []
    for instance in raw.instances:
        level = normalize_level(str(instance.label))
        if level in LEVELS:
            levels.append(level)
            continue
        reason = (
            f"label {instance.label!r} is level {level}, not one of {', '.join(LEVELS)}"
            if level
            else f"unknown label {instance.label!r}"
        )
        if not options.drop_unknown_labels:
            raise _ImageRefused(f"{reason} (pass --drop-unknown-labels to drop it)")
        issues.append(Issue(raw.where, f"{reason}: dropped", "warning"))
        levels.append(None)
    return levels


def _image(
    raw: RawImage, options: ConvertOptions, issues: list[Issue], secret: str
) -> LoadedImage | None:
    """Pixels of the image (None: geometry only, size from --image-size)."""
    if raw.image_path is not None:
        return load_image(raw.image_path, secret)
    if raw.pixels is not None:
        return LoadedImage(pixels=raw.pixels, source=None)
    if options.image_size is not None:
        issues.append(
            Issue(raw.where, "no image file: geometry only (size from --image-size)", "warning")
        )
        return None
    looked = ", ".join(sorted({str(p.parent) for p in raw.searched})) or "nowhere"
    raise _ImageRefused(f"missing image file (looked in {looked}; pass --images DIR)")


def _convert_one(
    raw: RawImage, options: ConvertOptions, result: ConversionResult, out_dir: Path
) -> None:
    issues: list[Issue] = []
    levels = _levels(raw, options, issues)
    loaded = _image(raw, options, issues, result.patient_secret)
    if loaded is not None:
        height, width = loaded.pixels.shape[:2]
        if raw.width and raw.height and (raw.width, raw.height) != (width, height):
            raise _ImageRefused(
                f"annotation says {raw.width}x{raw.height} but the image is {width}x{height}"
            )
    else:
        width, height = options.image_size  # type: ignore[misc]
    annotations = []
    for instance, level in zip(raw.instances, levels, strict=True):
        if level is None:
            continue
        try:
            shape = clean_polygons(
                instance.polygons, width, height, options.min_area, options.repair_invalid
            )
        except InvalidPolygonError as exc:
            raise _ImageRefused(f"{level} (label {instance.label!r}): {exc}") from None
        except PolygonError as exc:
            issues.append(Issue(raw.where, f"{level}: {exc}: dropped", "warning"))
            continue
        issues.extend(Issue(raw.where, f"{level}: {w}", "warning") for w in shape.warnings)
        annotation = {
            "category_id": category_id(level),
            "segmentation": shape.polygons,
            "area": shape.area,
            "bbox": shape.bbox,
            "iscrowd": 0,
            "source_label": str(instance.label),
        }
        if instance.corners is not None:
            annotation["corners"] = [[round(float(v), 2) for v in xy] for xy in instance.corners]
        if instance.attributes:
            annotation["attributes"] = instance.attributes
        annotations.append(annotation)
    counts = Counter(a["category_id"] for a in annotations)
    duplicates = [f"{LEVELS[c - 1]} x{n}" for c, n in sorted(counts.items()) if n > 1]
    if duplicates:
        raise _ImageRefused(f"duplicate levels in one image ({', '.join(duplicates)})")

    record = _image_record(raw, loaded, (width, height), options, result, out_dir)
    result.images.append(record)
    for annotation in annotations:
        annotation["id"] = len(result.annotations) + 1
        annotation["image_id"] = record["id"]
        result.annotations.append(annotation)
    result.issues.extend(issues)


def _image_record(
    raw: RawImage,
    loaded: LoadedImage | None,
    size: tuple[int, int],
    options: ConvertOptions,
    result: ConversionResult,
    out_dir: Path,
) -> dict:
    """The COCO image record (PNG written), and its private linkage row."""
    image_id = len(result.images) + 1
    record: dict = {"id": image_id, "width": size[0], "height": size[1]}
    if loaded is not None:
        record["file_name"] = f"{IMAGES_DIR}/{image_id:06d}.png"
        write_png(out_dir / record["file_name"], loaded.pixels)
    else:
        record["file_name"] = None
        record["geometry_only"] = True
    secret = result.patient_secret
    if loaded is not None and loaded.patient_key:
        key, source = loaded.patient_key, "DICOM patient"
    elif raw.patient_hint:
        key, source = patient_key(f"hint:{raw.patient_hint}", secret), "annotation/file name"
    else:
        key, source = patient_key(f"image:{raw.where}", secret), "none (one patient per image)"
    result.patient_sources[source] += 1
    record["patient_key"] = key
    source_file = loaded.source if loaded is not None else None
    uid = loaded.sop_instance_uid if loaded is not None else None
    if options.keep_source_paths:
        record["source_file"] = source_file
        record["source_annotation"] = raw.where
    if loaded is not None and loaded.pixel_spacing_mm:
        record["pixel_spacing_mm"] = list(loaded.pixel_spacing_mm)
        record["pixel_spacing_source"] = loaded.pixel_spacing_source
    if options.keep_uids and uid:
        record["sop_instance_uid"] = uid
    result.linkage.append(
        {"image_id": image_id, "file_name": record["file_name"], "patient_key": key,
         "patient_key_source": source, "source_file": source_file,
         "source_annotation": raw.where, "sop_instance_uid": uid}
    )
    return record


def coco_dict(result: ConversionResult, image_ids: set[int] | None = None) -> dict:
    images = [i for i in result.images if image_ids is None or i["id"] in image_ids]
    keep = {i["id"] for i in images}
    return {
        "info": {
            "description": f"lumbarseg convert --from {result.fmt}",
            "date_created": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"
            ),
        },
        "licenses": [],
        "categories": COCO_CATEGORIES,
        "images": images,
        "annotations": [a for a in result.annotations if a["image_id"] in keep],
    }


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    if (out_dir / ANNOTATIONS).exists():
        if not overwrite:
            raise LumbarsegError(f"{out_dir}: already holds a converted dataset (use --overwrite)")
        for old in (out_dir / IMAGES_DIR).glob("*.png"):
            old.unlink()
        for old in out_dir.glob("annotations*.json"):
            old.unlink()
    (out_dir / IMAGES_DIR).mkdir(parents=True, exist_ok=True)


def convert_dataset(
    fmt: str,
    inputs: list[Path],
    out_dir: Path,
    options: ConvertOptions | None = None,
    split: tuple[float, ...] | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> ConversionResult:
    """Convert every input; bad files become issues, the rest is written. Never raises for
    a single bad input file."""
    options = options or ConvertOptions()
    reader = get_reader(fmt)
    out_dir = Path(out_dir)
    _prepare_out_dir(out_dir, overwrite)
    private_dir = Path(options.private_dir or out_dir / PRIVATE_DIR)
    result = ConversionResult(out_dir=out_dir, fmt=fmt)
    result.patient_secret = options.patient_secret or dataset_secret(private_dir)
    for item in _with_progress(reader([Path(p) for p in inputs], options), options.progress):
        if isinstance(item, NotAnImageError):
            result.issues.append(Issue(item.path, f"skipped: {item.problem}", "warning"))
        elif isinstance(item, InputFileError):
            result.issues.append(Issue(item.path, item.problem))
        else:
            try:
                _convert_one(item, options, result, out_dir)
            except _ImageRefused as exc:
                result.issues.append(Issue(item.where, str(exc)))
            except NotAnImageError as exc:
                result.issues.append(Issue(exc.path, f"skipped: {exc.problem}", "warning"))
            except InputFileError as exc:
                result.issues.append(Issue(exc.path, exc.problem))
    write_json_atomic(out_dir / ANNOTATIONS, coco_dict(result))
    if split is not None:
        patients = {image["id"]: image["patient_key"] for image in result.images}
        result.splits = split_by_patient(patients, split, seed)
        for name, ids in result.splits.items():
            write_json_atomic(out_dir / split_json_name(name), coco_dict(result, set(ids)))
    from lumbarseg.data.convert.summary import report_dict

    write_json_atomic(
        out_dir / REPORT, report_dict(result, with_issues=options.keep_source_paths), indent=2
    )
    write_private(private_dir, result.linkage, [vars(issue) for issue in result.issues])
    return result


def _with_progress(items, enabled: bool):
    """tqdm over the reader's records (count unknown up front) on a terminal's stderr."""
    import sys

    if not (enabled and sys.stderr.isatty()):
        return items
    from tqdm import tqdm

    return tqdm(items, desc="convert", unit="img", file=sys.stderr, dynamic_ncols=True)

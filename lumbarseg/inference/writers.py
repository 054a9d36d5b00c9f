"""The output folder of ``lumbarseg infer``: its one owner, for writing and for reading.

Inference writes per-image records as they come, shard statuses, then final files merged by
streaming; exporters, the report and the demo read the folder through the same class. Every
file is written atomically. The final files (predictions.json, images.json, summary.csv)
are rebuilt from the per-image records in image-id order, one record in memory at a time,
so they are byte-identical however the run was split, interrupted or resumed.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypedDict

from lumbarseg.errors import InputFileError, LumbarsegError, one_line
from lumbarseg.evaluation.report import RESULTS_STEM
from lumbarseg.inference.discovery import InputItem
from lumbarseg.io.atomic import atomic_open, write_json_atomic
from lumbarseg.io.dicom import PHI_KEYWORDS
from lumbarseg.levels import COCO_CATEGORIES
from lumbarseg.postprocess.flags import flag_names
from lumbarseg.postprocess.result import coco_result_scores

RECORD_VERSION = 1
SUMMARY_COLUMNS = (
    "image_key", "image_id", "relative_path", "status", "reason", "height", "width",
    "n_vertebrae", "levels_found", "missing_levels", "flags", "lordosis_deg",
    "sacral_slope_deg", "listhesis", "pixel_spacing_source",
)
# The private key -> file linkage, the one file of a run that names the inputs by path
# (unless --keep-paths): kept by the user, never shared.
PRIVATE_DIR = "private"
LINKAGE_COLUMNS = ("image_key", "image_id", "status", "relative_path", "source_path")


class FileReason(TypedDict, total=False):
    """A file that failed or was skipped: the one shape in shard statuses and run.json.
    ``path`` (relative to the input root) only with --keep-paths."""

    key: str
    path: str
    reason: str


class Vertebra(TypedDict):
    level: str
    category_id: int | None  # None for T11/T12/L6: no COCO category of their own
    score: float
    level_confidence: float
    bbox: list[float]  # XYWH
    segmentation: dict  # COCO RLE, counts a str
    spans: list[str]


class ImageRecord(TypedDict, total=False):
    """``per_image/<image_key>.json``; ``relative_path`` only with --keep-paths, ``phi`` only
    with --keep-phi."""

    version: int
    image_key: str
    image_id: int
    relative_path: str
    height: int
    width: int
    pixel_spacing_mm: list[float] | None
    pixel_spacing_source: str | None  # which spacing the *_mm values use (io.dicom._spacing)
    model: str
    source: dict
    vertebrae: list[Vertebra]
    rejected: list[dict]
    flags: dict
    measurements: dict
    phi: dict[str, str]


def file_reasons(reasons: Mapping[str, str], paths: Mapping[str, str],
                 keep_paths: bool) -> list[FileReason]:
    """``{image key: reason}`` as the stored list, in path order; ``paths`` maps keys to
    relative paths, written only with ``keep_paths``."""
    out: list[FileReason] = []
    for key in sorted(reasons, key=lambda k: (paths.get(k, ""), k)):
        entry: FileReason = {"key": key}
        if keep_paths:
            entry["path"] = paths.get(key, "")
        entry["reason"] = reasons[key]
        out.append(entry)
    return out


def burned_in(record: Mapping[str, Any]) -> bool:
    """The source says its pixels carry burned-in text (DICOM BurnedInAnnotation YES)."""
    return bool((record.get("source") or {}).get("burned_in_annotation"))


def record_flags(record: Mapping[str, Any]) -> list[str]:
    """The raised flags of a record as short names (for the summary, overlays, the report)."""
    names = flag_names(record.get("flags") or {})
    return names + (["burned_in_annotation"] if burned_in(record) else [])


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class OutputFolder:
    """OUT/per_image/<key>.json, OUT/overlays/<key>.png, OUT/shards/, OUT/run.json, the merged
    COCO files and summary.csv (the layout is documented in ``lumbarseg.inference``)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.per_image = self.root / "per_image"
        self.overlays = self.root / "overlays"
        self.shards = self.root / "shards"

    # --- per-image records -------------------------------------------------------------
    def record_path(self, key: str) -> Path:
        return self.per_image / f"{key}.json"

    def overlay_path(self, key: str) -> Path:
        return self.overlays / f"{key}.png"

    def write_record(self, record: ImageRecord) -> None:
        write_json_atomic(self.record_path(record["image_key"]), record)

    def load_record(self, key: str) -> ImageRecord | None:
        try:
            return _read_json(self.record_path(key))
        except (OSError, ValueError):
            return None

    def is_complete(self, item: InputItem, model: str, overlays: bool,
                    keep_paths: bool = False) -> bool:
        """Done by the same model for the same file (and drawn, when overlays are asked for),
        with the path in it exactly when --keep-paths asks for it.

        A record whose image id moved (files added to the input since) is patched in place,
        without recomputing the prediction.
        """
        record = self.load_record(item.image_key)
        if (
            record is None
            or record.get("version") != RECORD_VERSION
            or record.get("relative_path") != (item.relative_path if keep_paths else None)
            or record.get("model") != model
            or "vertebrae" not in record
        ):
            return False
        if overlays and not self.overlay_path(item.image_key).is_file():
            return False
        if record.get("image_id") != item.image_id:
            record["image_id"] = item.image_id
            self.write_record(record)
        return True

    # --- shard status ---------------------------------------------------------------------
    def shard_status_path(self, index: int, count: int) -> Path:
        return self.shards / f"shard-{index:04d}-of-{count:04d}.json"

    def write_shard_status(self, index: int, count: int, status: dict) -> None:
        write_json_atomic(self.shard_status_path(index, count), status, indent=1)

    def known_bad(self, index: int, count: int) -> set[str]:
        """Image keys that failed or were skipped in this shard's previous run."""
        try:
            status = _read_json(self.shard_status_path(index, count))
            return {entry["key"] for entry in status["failures"] + status["skipped"]}
        except (OSError, ValueError, KeyError, TypeError):
            return set()

    def shard_statuses(self, count: int) -> list[dict] | None:
        """All shards' statuses, or None while any shard has not finished."""
        out = []
        for index in range(count):
            try:
                out.append(_read_json(self.shard_status_path(index, count)))
            except (OSError, ValueError):
                return None
        return out

    # --- merge ----------------------------------------------------------------------------
    def merge(
        self,
        items: list[InputItem],
        failures: dict[str, str],
        skipped: dict[str, str],
        keep_phi: bool = False,
        keep_paths: bool = False,
    ) -> dict[str, int]:
        """Write predictions.json, images.json and summary.csv (``failures`` and ``skipped``
        are keyed by image key); drop stale records."""
        wanted = {item.image_key for item in items}
        self._drop_stale(wanted)
        counts = {"images": 0, "predictions": 0}
        with (
            atomic_open(self.root / "predictions.json", "w", encoding="utf-8") as preds,
            atomic_open(self.root / "images.json", "w", encoding="utf-8") as images,
            atomic_open(self.root / "summary.csv", "w", encoding="utf-8", newline="") as summary,
        ):
            columns = summary_columns(keep_phi, keep_paths)
            table = csv.writer(summary, lineterminator="\n")
            table.writerow(columns)
            preds.write("[")
            images.write('{"images": [')
            first_pred = first_image = True
            for item in items:
                if item.image_key in failures or item.image_key in skipped:
                    status = "failed" if item.image_key in failures else "skipped"
                    reason = failures.get(item.image_key) or skipped[item.image_key]
                    table.writerow(_status_row(item, status, reason, columns))
                    continue
                record = self.load_record(item.image_key)
                if record is None:  # not processed (e.g. --max-images): not an output
                    continue
                entry = {"id": item.image_id,
                         "file_name": item.relative_path if keep_paths else item.image_key,
                         "height": record["height"], "width": record["width"],
                         "image_key": item.image_key}
                images.write(("" if first_image else ",") + "\n" + json.dumps(entry))
                first_image = False
                counts["images"] += 1
                for result in _coco_results(item, record):
                    preds.write(("" if first_pred else ",") + "\n" + json.dumps(result))
                    first_pred = False
                    counts["predictions"] += 1
                table.writerow(_summary_row(item, record, columns))
            preds.write("\n]\n")
            images.write("\n], \"categories\": " + json.dumps(COCO_CATEGORIES) + "}\n")
        return counts

    # --- the private linkage and key secret ------------------------------------------------
    @property
    def secret_path(self) -> Path:
        return self.root / PRIVATE_DIR / "image_secret.txt"

    def image_secret(self) -> str:
        """The run's image-key secret: the stored one, else a new random one stored
        owner-only (created once, exclusively: concurrent shards all read the same one)."""
        path = self.secret_path
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(secrets.token_hex(32) + "\n")
        return read_secret(path)

    @property
    def linkage_path(self) -> Path:
        return self.root / PRIVATE_DIR / "linkage.csv"

    def write_linkage(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """``private/linkage.csv``: image key -> id, status, relative and absolute path."""
        with atomic_open(self.linkage_path, "w", encoding="utf-8", newline="") as handle:
            table = csv.DictWriter(handle, LINKAGE_COLUMNS, lineterminator="\n")
            table.writeheader()
            for row in rows:
                table.writerow({c: row.get(c, "") for c in LINKAGE_COLUMNS})
        os.chmod(self.linkage_path, 0o600)

    def linkage(self) -> dict[str, dict[str, str]]:
        """Rows of ``private/linkage.csv`` by image key ({} when the run has none)."""
        try:
            with open(self.linkage_path, encoding="utf-8", newline="") as handle:
                return {row["image_key"]: row for row in csv.DictReader(handle)}
        except (OSError, KeyError, csv.Error):
            return {}

    def _drop_stale(self, wanted: set[str]) -> None:
        """per_image/ and overlays/ hold exactly the images of this input set."""
        for folder, suffix in ((self.per_image, ".json"), (self.overlays, ".png")):
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path.suffix == suffix and path.stem not in wanted:
                    path.unlink()

    def write_run(self, run: dict) -> None:
        write_json_atomic(self.run_path, run, indent=1)

    # --- reading: exporters, the report, the demo --------------------------------------------
    @property
    def run_path(self) -> Path:
        return self.root / "run.json"

    def record_count(self) -> int:
        """How many per-image records there are (for progress bars; nothing is read)."""
        return sum(1 for _ in self.per_image.glob("*.json")) if self.per_image.is_dir() else 0

    def records(self) -> Iterator[tuple[Path, ImageRecord | None, str | None]]:
        """(record path, record or None, problem or None) per per-image record, in name order:
        a broken record is reported by the reader, not fatal to it."""
        if not self.per_image.is_dir():
            raise LumbarsegError(
                f"{self.per_image}: no per_image folder; is this an inference output?")
        for path in sorted(self.per_image.glob("*.json")):
            try:
                record = _read_json(path)
            except (OSError, ValueError) as exc:
                yield path, None, f"unreadable per-image record ({one_line(exc)})"
                continue
            if not isinstance(record, dict) or "image_key" not in record:
                yield path, None, "per-image record lacks image_key"
                continue
            yield path, record, None

    def read_run(self) -> dict:
        """``run.json`` ({} when absent or unreadable: it is a summary, not the data)."""
        try:
            run = _read_json(self.run_path)
        except (OSError, ValueError):
            return {}
        return run if isinstance(run, dict) else {}

    def input_root(self) -> Path | None:
        """The folder the records' relative paths are relative to, as run.json recorded it
        (only with --keep-paths; else see ``source_path``)."""
        value = self.read_run().get("input_root")
        return Path(value) if isinstance(value, str) and value else None

    def relative_path(self, record: Mapping[str, Any],
                      linkage: Mapping[str, Mapping[str, str]] | None = None) -> str | None:
        """A record's path relative to the input root: from the record (--keep-paths), else
        from the private linkage (read here when not given); None when neither has it."""
        if record.get("relative_path"):
            return str(record["relative_path"])
        row = (self.linkage() if linkage is None else linkage).get(str(record.get("image_key")))
        return (row or {}).get("relative_path") or None

    def source_path(self, record: Mapping[str, Any], input_root: str | os.PathLike | None = None,
                    linkage: Mapping[str, Mapping[str, str]] | None = None) -> Path | None:
        """Where a record's source image is: ``input_root`` (given, else run.json's) joined
        with its relative path, else the absolute path in the private linkage."""
        linkage = self.linkage() if linkage is None else linkage
        root = Path(input_root) if input_root is not None else self.input_root()
        relative = self.relative_path(record, linkage)
        if root is not None and relative:
            return root / relative
        absolute = (linkage.get(str(record.get("image_key"))) or {}).get("source_path")
        return Path(absolute) if absolute else None

    def images(self) -> list[dict]:
        """The ``images`` of images.json (the successfully processed images and their ids)."""
        return _read_json(self.root / "images.json")["images"]

    def evaluation(self) -> tuple[Path, dict] | None:
        """(path, results) of the run's evaluation in OUT/evaluation, if any: the file
        ``lumbarseg evaluate`` writes first, then any other JSON there in name order."""
        folder = self.root / "evaluation"
        preferred = folder / f"{RESULTS_STEM}.json"
        paths = [preferred] + sorted(p for p in folder.glob("*.json") if p != preferred)
        for path in paths:
            try:
                results = _read_json(path)
            except (OSError, ValueError):
                continue
            if isinstance(results, dict):
                return path, results
        return None


def read_secret(path: str | os.PathLike) -> str:
    """A secret kept in a text file (its first line, at least 16 characters)."""
    for _ in range(50):  # a file another shard has just created may still be empty
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputFileError(path, f"unreadable image-key secret ({one_line(exc)})") from None
        if text:
            break
        time.sleep(0.1)
    if len(text) < 16:
        raise InputFileError(path, "image-key secret is shorter than 16 characters")
    return text.splitlines()[0]


def _listhesis_text(measurements: dict) -> str:
    parts = []
    for level, slip in (measurements.get("listhesis") or {}).items():
        if slip.get("grade"):
            parts.append(f"{level}:{slip['percent']:+.1f}%/G{slip['grade']}")
    return " ".join(parts)


def summary_columns(keep_phi: bool, keep_paths: bool) -> tuple[str, ...]:
    """summary.csv's header: the relative path only with --keep-paths, the identifiers only
    with --keep-phi."""
    base = tuple(c for c in SUMMARY_COLUMNS if keep_paths or c != "relative_path")
    return base + (PHI_KEYWORDS if keep_phi else ())


def _coco_results(item: InputItem, record: Mapping[str, Any]) -> Iterator[dict]:
    for v in record["vertebrae"]:
        if v["category_id"] is None:  # T11/T12/L6: no COCO category of their own
            continue
        yield {"image_id": item.image_id, "category_id": v["category_id"],
               "segmentation": v["segmentation"], "bbox": v["bbox"],
               **coco_result_scores(v["score"], v["level_confidence"])}


def _status_row(item: InputItem, status: str, reason: str, columns: Iterable[str]) -> list:
    values: dict[str, Any] = {"image_key": item.image_key, "image_id": item.image_id,
                              "relative_path": item.relative_path, "status": status,
                              "reason": reason}
    return [values.get(c, "") for c in columns]


def _summary_row(item: InputItem, record: dict, columns: Iterable[str]) -> list:
    m = record.get("measurements") or {}
    flags = record.get("flags") or {}
    phi = record.get("phi") or {}
    values: dict[str, Any] = {
        "image_key": item.image_key, "image_id": item.image_id,
        "relative_path": item.relative_path, "status": "ok", "reason": "",
        "height": record["height"], "width": record["width"],
        "n_vertebrae": len(record["vertebrae"]),
        "levels_found": " ".join(v["level"] for v in record["vertebrae"]),
        "missing_levels": " ".join(flags.get("missing_levels", [])),
        "flags": " ".join(record_flags(record)),
        "lordosis_deg": _blank(m.get("lordosis_deg")),
        "sacral_slope_deg": _blank(m.get("sacral_slope_deg")),
        "listhesis": _listhesis_text(m),
        "pixel_spacing_source": record.get("pixel_spacing_source") or "",
        **{k: phi.get(k, "") for k in PHI_KEYWORDS},
    }
    return [values.get(c, "") for c in columns]


def _blank(value: Any) -> Any:
    return "" if value is None else value


"""What every format reader yields: images with raw labels, before validation and export."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lumbarseg.errors import InputFileError
from lumbarseg.io.jsonfile import load_json  # noqa: F401  (the readers import it from here)


@dataclass
class RawInstance:
    """One annotated vertebra as the input file spelled it."""

    label: str
    # Polygons as flat [x0, y0, x1, y1, ...] lists in image pixels (COCO convention).
    polygons: list[list[float]]
    # Four corners (superior-anterior, superior-posterior, inferior-posterior,
    # inferior-anterior) when the format knows them (BUU-LSPINE, COCO with "corners").
    corners: list[list[float]] | None = None
    attributes: dict = field(default_factory=dict)


@dataclass
class RawImage:
    """One image and its annotations, as read; ``where`` names it in messages."""

    where: str
    image_path: Path | None
    instances: list[RawInstance] = field(default_factory=list)
    # Size stated by the annotation file (checked against the image when both exist).
    width: int | None = None
    height: int | None = None
    # Pixels embedded in the annotation (labelme imageData), used when no image file exists.
    pixels: np.ndarray | None = None
    # A patient identifier from the annotation (hashed before it reaches any output).
    patient_hint: str | None = None
    # Where the image was looked for, for the "missing image" message.
    searched: list[Path] = field(default_factory=list)


@dataclass
class Issue:
    """A problem found while converting; errors drop the image, warnings only report."""

    where: str
    problem: str
    severity: str = "error"

    def line(self) -> str:
        return f"{self.severity.upper():<7} {self.where}: {self.problem}"


@dataclass
class ConvertOptions:
    images_dir: Path | None = None
    drop_unknown_labels: bool = False
    # S1 depth as a fraction of its superior endplate length (BUU-LSPINE corner CSVs).
    sacral_depth: float = 0.6
    # (width, height) for geometry-only inputs whose image files are absent.
    image_size: tuple[int, int] | None = None
    # Polygons smaller than this (pixels^2) are reported and dropped.
    min_area: float = 16.0
    # Repair self-intersecting polygons with shapely's make_valid (else refuse the image).
    repair_invalid: bool = True
    # VIA region attribute that holds the level label (None: guess).
    label_attribute: str | None = None
    # Copy the original image/annotation paths into the image records and the issue list into
    # conversion_report.json (folder names may identify patients). They always go to the
    # private linkage.csv / conversion_issues.json.
    keep_source_paths: bool = False
    # Copy each DICOM's SOP Instance UID into its image record (always in linkage.csv).
    keep_uids: bool = False
    # Secret of the patient keys; None: the dataset's own random one in the private folder.
    patient_secret: str | None = None
    # Folder for the secret, linkage.csv and conversion_issues.json; None: OUT/private.
    private_dir: Path | None = None
    # A tqdm bar on stderr while converting (on a terminal only).
    progress: bool = False


ReadResult = RawImage | InputFileError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm", ".dicom")


def find_image(name: str, dirs: list[Path]) -> tuple[Path | None, list[Path]]:
    """First existing ``name`` in ``dirs`` (also its bare file name, and ``name.<suffix>``
    when it has no image suffix); returns (path or None, every path tried)."""
    base = Path(name)
    candidates = [str(base)]
    if base.name != str(base):
        candidates.append(base.name)
    if base.suffix.lower() not in IMAGE_SUFFIXES:
        candidates += [base.name + suffix for suffix in IMAGE_SUFFIXES]
    searched = []
    for folder in dirs:
        for candidate in candidates:
            path = folder / candidate
            searched.append(path)
            if path.is_file():
                return path, searched
    return None, searched


def expand_inputs(inputs: list[Path], suffixes: tuple[str, ...]) -> list[Path | InputFileError]:
    """Files given directly, plus files with one of ``suffixes`` found under given folders."""
    found: list[Path | InputFileError] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            matches = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
            )
            if not matches:
                found.append(InputFileError(path, f"folder holds no {'/'.join(suffixes)} files"))
            found.extend(matches)
        elif path.is_file():
            found.append(path)
        else:
            found.append(InputFileError(path, "input not found"))
    return found


def read_each(
    inputs: list[Path], suffixes: tuple[str, ...], read_one: Callable[[Path], ReadResult]
) -> Iterator[ReadResult]:
    """Run a one-record-per-file reader over the inputs; a bad file becomes its error record."""
    for path in expand_inputs(inputs, suffixes):
        if isinstance(path, InputFileError):
            yield path
            continue
        try:
            yield read_one(path)
        except InputFileError as exc:
            yield exc


def rectangle(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def ellipse(cx: float, cy: float, rx: float, ry: float, theta: float = 0.0) -> list[float]:
    """A 32-point polygon approximating an (optionally rotated) ellipse."""
    t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = np.cos(theta), np.sin(theta)
    return [
        v for xy in zip(cx + c * x - s * y, cy + s * x + c * y, strict=True) for v in map(float, xy)
    ]

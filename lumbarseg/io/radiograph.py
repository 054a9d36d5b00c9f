"""Radiographs in, network input out: the single pixel path shared by training and inference.

DICOM pixels go stored value -> Modality LUT -> VOI LUT or window -> MONOCHROME1 inversion,
so that higher always means brighter (bone and metal white). ``to_network_input`` is the
only function that turns a radiograph into what a model sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lumbarseg.errors import InputFileError

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")


@dataclass
class Radiograph:
    """A display-ready grayscale radiograph (float32, higher = brighter) plus safe metadata."""

    pixels: np.ndarray
    source_path: str
    pixel_spacing_mm: tuple[float, float] | None = None
    # Non-identifying DICOM facts (UIDs, modality, photometric interpretation, "patient_key":
    # a keyed hash for splitting by patient when a secret was given...). Never names, ids or
    # dates of the patient.
    meta: dict = field(default_factory=dict)
    # Fixed (low, high) display range set by a DICOM VOI LUT/window; None means "use the
    # image's robust percentile range" in ``to_network_input``.
    display_range: tuple[float, float] | None = None
    # Patient identifiers (``lumbarseg.io.dicom.PHI_KEYWORDS``), read from the same header as
    # the pixels, only when the caller asked for them (``--keep-phi``); None otherwise.
    phi: dict[str, str] | None = None

    @property
    def caudal(self) -> tuple[float, float] | None:
        """Image direction (x right, y down) toward the patient's feet, or None if unknown.

        From Patient Orientation (0020,0020): the patient directions of the rows (left to
        right) and of the columns (top to bottom), e.g. ``A\\F`` on a lateral film hung head
        up, ``P\\H`` on one hung upside down, ``F\\A`` on a film turned on its side. Without
        it the labeller takes films to hang head up, and on a film turned over it reads the
        column from the wrong end (flagged, not silent)."""
        values = str(self.meta.get("PatientOrientation") or "").upper().split("\\")
        if len(values) != 2:
            return None
        x, y = (("F" in v) - ("H" in v) for v in values)
        if not (x or y):
            return None
        norm = float(np.hypot(x, y))
        return x / norm, y / norm


def is_dicom_path(path: str | Path, *, trust_suffix: bool = False) -> bool:
    """Whether a file is DICOM: the Part 10 preamble magic decides (PACS exports often name
    files IM00001 or by UID). With ``trust_suffix`` a DICOM file name also counts, so a file
    that claims to be DICOM but cannot be read is reported as a failure, not skipped."""
    if trust_suffix and Path(path).suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def read_raster(path: str | Path) -> Radiograph:
    import cv2

    if not Path(path).is_file():
        raise InputFileError(path, "file not found")
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise InputFileError(path, "not a readable image file")
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels[..., :3], cv2.COLOR_BGR2GRAY)
    bits = 8 if pixels.dtype == np.uint8 else 16
    return Radiograph(pixels=pixels.astype(np.float32), source_path=str(path), meta={"bits": bits})


def read_radiograph(path: str | Path, patient_secret: str | None = None, *,
                    keep_phi: bool = False) -> Radiograph:
    """Read a DICOM or raster image file (``patient_secret``, ``keep_phi``: see ``read_dicom``)."""
    if not Path(path).is_file():
        raise InputFileError(path, "file not found")
    if is_dicom_path(path):
        from lumbarseg.io.dicom import read_dicom

        return read_dicom(path, patient_secret, keep_phi=keep_phi)
    if Path(path).suffix.lower() in RASTER_SUFFIXES:
        return read_raster(path)
    raise InputFileError(path, "neither DICOM nor a PNG/JPEG/TIFF image")


def to_network_input(radiograph: Radiograph) -> np.ndarray:
    """Scale a radiograph to uint8 (H, W).

    8-bit rasters pass unchanged (so exported PNGs read back identically); a DICOM window/VOI
    LUT gives a fixed range; otherwise the robust 0.5-99.5 % intensity range is used.
    """
    pixels = radiograph.pixels
    finite = pixels[np.isfinite(pixels)]
    if finite.size == 0:
        raise InputFileError(radiograph.source_path, "image has no finite pixel values")
    if radiograph.meta.get("bits") == 8:
        # 8-bit files are taken as already windowed (the converter exports them this way).
        return np.clip(pixels, 0, 255).astype(np.uint8)
    if radiograph.display_range is not None:
        low, high = (float(v) for v in radiograph.display_range)
    else:
        low, high = (float(v) for v in np.percentile(finite, (0.5, 99.5)))
    if high <= low:
        high = low + 1.0
    scaled = (np.nan_to_num(pixels, nan=low) - low) * (255.0 / (high - low))
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


def load_network_input(path: str | Path) -> np.ndarray:
    """Read any supported image file straight to model input (uint8 H x W)."""
    return to_network_input(read_radiograph(path))

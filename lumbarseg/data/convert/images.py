"""Images into the dataset: read any supported file, export the model's exact input as PNG."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lumbarseg.errors import InputFileError
from lumbarseg.io.atomic import write_bytes_atomic
from lumbarseg.io.radiograph import read_radiograph, to_network_input


@dataclass
class LoadedImage:
    pixels: np.ndarray  # uint8 H x W: what the model will see
    source: str | None
    pixel_spacing_mm: tuple[float, float] | None = None
    pixel_spacing_source: str | None = None  # which spacing (``lumbarseg.io.dicom._spacing``)
    patient_key: str | None = None
    sop_instance_uid: str | None = None


def load_image(path: Path, patient_secret: str | None = None) -> LoadedImage:
    """Read a DICOM/PNG/JPEG file through the one shared radiograph-to-input function
    (``patient_secret`` keys the DICOM patient, see ``read_dicom``)."""
    radiograph = read_radiograph(path, patient_secret)
    return LoadedImage(
        pixels=to_network_input(radiograph),
        source=str(Path(path).resolve()),
        pixel_spacing_mm=radiograph.pixel_spacing_mm,
        pixel_spacing_source=radiograph.meta.get("pixel_spacing_source"),
        patient_key=radiograph.meta.get("patient_key"),
        sop_instance_uid=radiograph.meta.get("SOPInstanceUID"),
    )


def write_png(path: Path, pixels: np.ndarray) -> None:
    """8-bit grayscale PNG, written atomically (read back it gives the same uint8 array)."""
    import cv2

    ok, data = cv2.imencode(".png", np.ascontiguousarray(pixels, dtype=np.uint8))
    if not ok:
        raise InputFileError(path, "PNG encoding failed")
    write_bytes_atomic(path, data.tobytes())

"""DICOM radiographs to display-ready pixels, with the standard LUT pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lumbarseg.errors import InputFileError
from lumbarseg.io.radiograph import Radiograph


def read_dicom(path: str | Path) -> Radiograph:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(str(path))
    except (InvalidDicomError, OSError) as exc:
        raise InputFileError(path, f"not a DICOM file ({exc})") from None
    if "PixelData" not in ds:
        raise InputFileError(path, "DICOM object has no pixel data")
    pixels = apply_modality_lut(ds.pixel_array, ds)
    pixels = apply_voi_lut(pixels, ds, index=0, prefer_lut=True).astype(np.float32)
    if ds.get("PhotometricInterpretation", "MONOCHROME2") == "MONOCHROME1":
        pixels = pixels.max() + pixels.min() - pixels
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    meta = {
        "SOPInstanceUID": str(ds.get("SOPInstanceUID", "")),
        "StudyInstanceUID": str(ds.get("StudyInstanceUID", "")),
        "SeriesInstanceUID": str(ds.get("SeriesInstanceUID", "")),
        "Modality": str(ds.get("Modality", "")),
        "PhotometricInterpretation": str(ds.get("PhotometricInterpretation", "")),
    }
    return Radiograph(
        pixels=pixels,
        source_path=str(path),
        pixel_spacing_mm=(float(spacing[0]), float(spacing[1])) if spacing else None,
        meta=meta,
    )

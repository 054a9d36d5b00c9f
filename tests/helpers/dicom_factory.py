"""Writes small, real DICOM radiographs with pydicom for the I/O and converter tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

DX_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image - For Presentation


def make_dataset(
    pixels: np.ndarray,
    bits_stored: int = 12,
    signed: bool = False,
    photometric: str = "MONOCHROME2",
    patient_id: str = "PAT-001",
    **elements,
) -> Dataset:
    """A single-frame grayscale DX dataset holding ``pixels`` as stored values."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DX_SOP_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = DX_SOP_CLASS
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19600101"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 8 if bits_stored <= 8 else 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    dtype = {(8, 0): np.uint8, (8, 1): np.int8, (16, 0): np.uint16, (16, 1): np.int16}
    ds.PixelData = pixels.astype(dtype[(ds.BitsAllocated, int(signed))]).tobytes()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def write(path: str | Path, ds: Dataset) -> Path:
    ds.save_as(str(path), enforce_file_format=True)
    return Path(path)


def ramp(rows: int = 48, cols: int = 40, bits: int = 12, seed: int = 0) -> np.ndarray:
    """A textured test image using the full stored range (compression must not be trivial)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols]
    image = ((x * 37 + y * 11) % (2**bits)).astype(np.int64)
    image[: rows // 2] = image[: rows // 2] // 64 * 64  # runs for RLE
    image[rows // 2 :] += rng.integers(0, 16, size=(rows - rows // 2, cols))
    return image % (2**bits)

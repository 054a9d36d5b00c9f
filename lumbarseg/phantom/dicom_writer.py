"""Phantom images as real CR/DX DICOM files with a fake patient/study/series hierarchy.

Identifiers are fake but well formed and derived from the dataset seed only (UIDs are
``2.25`` UUID-derived from hashed seed strings, dates come from the seed), so the same seed
writes byte-identical files. MONOCHROME1 files store inverted values (low = white).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from lumbarseg.io.atomic import write_bytes_atomic
from lumbarseg.phantom.render import PhantomImage

CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_PRESENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"
FAMILY = ("ALPHA", "BRAVO", "CEDAR", "DELTA", "EMBER", "FJORD", "GAMMA", "HAZEL", "INDIGO",
          "JUNIPER", "KAPPA", "LUMEN", "MAPLE", "NOVA", "OMEGA", "PIXEL")


def fake_uid(*parts: object) -> str:
    """A valid, deterministic ``2.25.<decimal>`` UID from the given parts."""
    digest = hashlib.sha256("/".join(map(str, ("lumbarseg-phantom", *parts))).encode()).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


@dataclass(frozen=True)
class PatientIdentity:
    patient_id: str
    name: str
    birth_date: str
    sex: str


@dataclass(frozen=True)
class StudyIdentity:
    uid: str
    date: str
    time: str
    study_id: str
    accession: str


@dataclass(frozen=True)
class SeriesIdentity:
    uid: str
    number: int
    modality: str
    photometric: str
    bits_stored: int


def make_patient(seed: int, index: int, sex: str, age: int, study_year: int) -> PatientIdentity:
    digest = int(hashlib.sha256(f"patient/{seed}/{index}".encode()).hexdigest(), 16)
    birth = date(study_year - age, 1 + digest % 12, 1 + (digest // 12) % 28)
    return PatientIdentity(
        patient_id=f"PH{seed % 10000:04d}{index:05d}",
        name=f"PHANTOM^{FAMILY[digest % len(FAMILY)]}{index:04d}",
        birth_date=birth.strftime("%Y%m%d"),
        sex=sex,
    )


def make_study(seed: int, patient: int, study: int) -> StudyIdentity:
    digest = int(hashlib.sha256(f"study/{seed}/{patient}/{study}".encode()).hexdigest(), 16)
    day = date(2024, 1, 2) + timedelta(days=digest % 600 + 200 * study)
    secs = 7 * 3600 + digest % (11 * 3600)
    return StudyIdentity(
        uid=fake_uid(seed, "study", patient, study),
        date=day.strftime("%Y%m%d"),
        time=f"{secs // 3600:02d}{secs // 60 % 60:02d}{secs % 60:02d}",
        study_id=str(1 + study),
        accession=f"A{seed % 1000:03d}{patient:05d}{study:02d}",
    )


def _rle_plugin() -> str:
    """pylibjpeg-rle writes the same bytes as pydicom's native RLE encoder, 10x faster."""
    from pydicom.pixels import get_encoder
    from pydicom.uid import RLELossless

    available = get_encoder(RLELossless).available_plugins
    return "pylibjpeg" if "pylibjpeg" in available else "pydicom"


def build_dataset(image: PhantomImage, patient: PatientIdentity, study: StudyIdentity,
                  series: SeriesIdentity, instance: int, sop_uid: str, compressed: bool,
                  spacing_tag: str):
    """A pydicom Dataset (with file meta) of one phantom image."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless

    dx = series.modality == "DX"
    sop_class = DX_PRESENTATION_STORAGE if dx else CR_STORAGE
    bits = series.bits_stored
    arr = image.to_uint(bits)
    if series.photometric == "MONOCHROME1":
        arr = ((1 << bits) - 1 - arr).astype(np.uint16)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["DERIVED", "PRIMARY"] if dx else ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study.date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = study.time
    ds.AccessionNumber = study.accession
    ds.Modality = series.modality
    ds.Manufacturer = "lumbarseg phantom"
    ds.InstitutionName = "Phantom Clinic"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "L-SPINE LATERAL"
    ds.SeriesDescription = "LAT"
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.BodyPartExamined = "LSPINE"
    ds.ViewPosition = "LL"
    ds.StudyInstanceUID = study.uid
    ds.SeriesInstanceUID = series.uid
    ds.StudyID = study.study_id
    ds.SeriesNumber = series.number
    ds.InstanceNumber = instance
    # Rows run toward the patient's front or back (the facing), columns toward the feet: the
    # film hangs head up, as most do, and `lumbarseg infer` reads the column's ends from it.
    ds.PatientOrientation = ["A" if image.params.facing == "right" else "P", "F"]
    ds.BurnedInAnnotation = "YES"
    ds.LossyImageCompression = "00"
    if dx:
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.ImageLaterality = "U"
        ds.PixelIntensityRelationship = "LOG"
        ds.PixelIntensityRelationshipSign = 1
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.RescaleType = "US"
        ds.PresentationLUTShape = "INVERSE" if series.photometric == "MONOCHROME1" else "IDENTITY"
        ds.DetectorType = "SCINTILLATOR"
    spacing = [f"{image.pixel_spacing_mm:.4f}"] * 2
    setattr(ds, spacing_tag, spacing)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = series.photometric
    ds.Rows, ds.Columns = arr.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    low, high = np.percentile(arr[::4, ::4], (0.5, 99.5))
    ds.WindowCenter = str(int(round((low + high) / 2)))
    ds.WindowWidth = str(max(int(round((high - low) * 1.1)), 2))
    ds.PixelData = arr.tobytes()
    if compressed:
        ds.compress(RLELossless, arr, encoding_plugin=_rle_plugin(), generate_instance_uid=False)
    return ds


def write_dicom(path: str | Path, dataset) -> None:
    """Write a dataset atomically in the DICOM file format."""
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    write_bytes_atomic(path, buffer.getvalue())

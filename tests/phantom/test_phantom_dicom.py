"""Phantom DICOM files: round trip through lumbarseg's reader, pydicom, highdicom; fake IDs."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import highdicom
import numpy as np
import pydicom
import pytest
from pycocotools.coco import COCO
from pydicom import config as dicom_config
from pydicom.uid import UID, RLELossless

from lumbarseg.io.radiograph import read_radiograph
from lumbarseg.phantom import PhantomConfig, generate_dataset, render_phantom
from lumbarseg.phantom.dicom_writer import (
    SeriesIdentity,
    build_dataset,
    fake_uid,
    make_patient,
    make_study,
)

CONFIG = PhantomConfig(size=160, monochrome1_share=0.5, compressed_share=0.5)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("phantom_dcm"), 12, 5, config=CONFIG)


def test_round_trip_bone_brighter_in_both_photometric_interpretations(dataset):
    coco = COCO(str(dataset))
    seen = set()
    for img in coco.loadImgs(coco.getImgIds()):
        truth = img["lumbarseg_truth"]
        radiograph = read_radiograph(dataset.parent / img["file_name"])
        assert radiograph.pixels.shape == (img["height"], img["width"])
        assert radiograph.pixel_spacing_mm == pytest.approx(tuple(truth["pixel_spacing_mm"]))
        assert radiograph.meta["PhotometricInterpretation"] == truth["dicom"]["photometric"]
        front = "A" if truth["facing"] == "right" else "P"
        assert radiograph.meta["PatientOrientation"] == f"{front}\\F"
        assert radiograph.caudal == (0.0, 1.0)
        seen.add(truth["dicom"]["photometric"])
        masks = [coco.annToMask(a).astype(bool) for a in coco.loadAnns(coco.getAnnIds(img["id"]))]
        bone = np.any(masks, axis=0)
        assert radiograph.pixels[bone].mean() > np.median(radiograph.pixels[~bone])
    assert seen == {"MONOCHROME1", "MONOCHROME2"}


def test_headers_valid_compressed_files_decode_and_highdicom_reads(dataset):
    coco = json.loads(dataset.read_text())
    syntaxes = set()
    old_mode = dicom_config.settings.reading_validation_mode
    dicom_config.settings.reading_validation_mode = dicom_config.RAISE
    try:
        for img in coco["images"]:
            path = dataset.parent / img["file_name"]
            ds = pydicom.dcmread(path)
            dicom = img["lumbarseg_truth"]["dicom"]
            assert ds.Modality == dicom["modality"] in ("CR", "DX")
            assert 10 <= ds.BitsStored == dicom["bits_stored"] <= 16
            assert ds.file_meta.TransferSyntaxUID == dicom["transfer_syntax"]
            assert (ds.file_meta.TransferSyntaxUID == RLELossless) == dicom["compressed"]
            syntaxes.add(str(ds.file_meta.TransferSyntaxUID))
            arr = ds.pixel_array
            assert arr.shape == (img["height"], img["width"])
            assert int(arr.max()) < 2 ** ds.BitsStored
            assert "WindowCenter" in ds and "WindowWidth" in ds
            assert ("PixelSpacing" in ds) or ("ImagerPixelSpacing" in ds)
            image = highdicom.imread(str(path))
            assert image.get_frame(1).shape == arr.shape
    finally:
        dicom_config.settings.reading_validation_mode = old_mode
    assert RLELossless in syntaxes and len(syntaxes) == 2


def test_rle_is_lossless_and_monochrome1_is_inverted():
    image = render_phantom(3, PhantomConfig(size=128))
    patient = make_patient(1, 0, "F", 50, 2025)
    study = make_study(1, 0, 0)
    arrays = {}
    for photometric in ("MONOCHROME1", "MONOCHROME2"):
        series = SeriesIdentity(fake_uid("s"), 1, "CR", photometric, 12)
        for compressed in (False, True):
            ds = build_dataset(image, patient, study, series, 1, fake_uid("i"), compressed,
                               "PixelSpacing")
            arrays[photometric, compressed] = ds.pixel_array.astype(int)
    expected = image.to_uint(12).astype(int)
    assert np.array_equal(arrays["MONOCHROME2", False], expected)
    assert np.array_equal(arrays["MONOCHROME2", True], expected)
    assert np.array_equal(arrays["MONOCHROME1", True], 4095 - expected)


def test_rle_plugins_write_identical_bytes():
    """Determinism must not depend on which RLE encoder plugin is installed."""
    from pydicom.pixels.encoders import RLELosslessEncoder

    plugins = [p for p in ("pydicom", "pylibjpeg") if p in RLELosslessEncoder.available_plugins]
    if len(plugins) < 2:
        pytest.skip("only one RLE encoder plugin installed")
    arr = np.random.default_rng(0).integers(0, 4096, (64, 48)).astype(np.uint16)
    opts = dict(rows=64, columns=48, samples_per_pixel=1, bits_allocated=16, bits_stored=12,
                pixel_representation=0, photometric_interpretation="MONOCHROME2",
                number_of_frames=1)
    encoded = {p: RLELosslessEncoder.encode(arr, encoding_plugin=p, **opts) for p in plugins}
    assert encoded["pydicom"] == encoded["pylibjpeg"]


def test_fake_identifiers_are_well_formed_and_grouped(dataset):
    coco = json.loads(dataset.read_text())
    per_patient = defaultdict(list)
    sops = set()
    for img in coco["images"]:
        ds = pydicom.dcmread(dataset.parent / img["file_name"], stop_before_pixels=True)
        for uid in (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID):
            assert UID(uid).is_valid and len(uid) <= 64
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        sops.add(ds.SOPInstanceUID)
        assert ds.PatientID == img["patient_id"]
        assert re.fullmatch(r"PH\d{9}", ds.PatientID)
        assert ds.PatientName.family_name == "PHANTOM" and ds.PatientName.given_name
        for value in (ds.PatientBirthDate, ds.StudyDate):
            datetime.strptime(value, "%Y%m%d")
        assert ds.PatientSex in ("F", "M")
        per_patient[ds.PatientID].append(ds)
    assert len(sops) == len(coco["images"])
    assert any(len(v) >= 2 for v in per_patient.values())
    for items in per_patient.values():
        assert len({(d.PatientName, d.PatientBirthDate, d.PatientSex) for d in items}) == 1
        studies = {d.StudyInstanceUID: d.SeriesInstanceUID for d in items}
        assert len(set(studies.values())) == len(studies)
    all_studies = [d.StudyInstanceUID for v in per_patient.values() for d in v]
    owners = {s: pid for pid, v in per_patient.items() for s in (d.StudyInstanceUID for d in v)}
    assert len(owners) == len(set(all_studies))

"""DICOM SEG export: real CR files written with pydicom, SEGs read back with highdicom."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from lumbarseg.cli import main as cli_main
from lumbarseg.evaluation.rle import encode_mask
from lumbarseg.export.dicom_seg import build_segmentation, export_run

PATIENT_NAME = "Zyxwvut^Quintessa"
PATIENT_ID = "PID-98765-SECRET"
BIRTH_DATE = "19471113"
H, W = 96, 64


def write_cr(path: Path, spacing_keyword: str = "ImagerPixelSpacing") -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.ComputedRadiographyImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID = PATIENT_NAME, PATIENT_ID
    ds.PatientBirthDate, ds.PatientSex = BIRTH_DATE, "F"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "20240102", "101500", "ACC-55443"
    ds.ReferringPhysicianName, ds.StudyID = "Referrer^Hidden", "77"
    ds.InstitutionName = "Secret General Hospital"
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CR", 3, 1
    ds.PatientOrientation = ["A", "F"]
    ds.Rows, ds.Columns, ds.SamplesPerPixel = H, W, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    setattr(ds, spacing_keyword, [0.15, 0.15])
    rng = np.random.default_rng(0)
    ds.PixelData = rng.integers(0, 4000, (H, W), dtype=np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return ds


def make_masks() -> dict[str, np.ndarray]:
    masks = {}
    for k, level in enumerate(("L3", "L4", "L5", "S1")):
        mask = np.zeros((H, W), np.uint8)
        y = 8 + 20 * k
        pts = np.array([[15, y], [45, y + 3], [44, y + 18], [14, y + 16]], np.int32)
        cv2.fillPoly(mask, [pts], 1)
        masks[level] = mask.astype(bool)
    masks["S1"][20:30, 20:30] = True  # overlaps L3: BINARY segments may overlap
    return masks


def make_record(key: str, rel: str, masks: dict[str, np.ndarray]) -> dict:
    return {
        "image_key": key,
        "image_id": 1,
        "relative_path": rel,
        "height": H,
        "width": W,
        "pixel_spacing_mm": [0.15, 0.15],
        "vertebrae": [
            {"level": level, "score": 0.9, "level_confidence": 0.8, "bbox": [0, 0, 1, 1],
             "segmentation": encode_mask(mask)}
            for level, mask in masks.items()
        ],
        "rejected": [{"reason": "empty", "score": 0.2, "bbox": [1, 2, 3, 4]}],  # candidates
        "flags": ["missing_L1"],
        "measurements": {},
    }


def make_run(tmp_path: Path, records: list[dict]) -> Path:
    run = tmp_path / "run"
    (run / "per_image").mkdir(parents=True)
    for record in records:
        (run / "per_image" / f"{record['image_key']}.json").write_text(json.dumps(record))
    return run


def read_back(path: Path):
    seg = hd.seg.segread(path)
    labels = [item.SegmentLabel for item in seg.SegmentSequence]
    return seg, labels


@pytest.mark.parametrize("spacing_keyword", ["ImagerPixelSpacing", "PixelSpacing"])
def test_export_reads_back_with_same_masks_codes_and_references(tmp_path, spacing_keyword):
    root = tmp_path / "in"
    source = write_cr(root / "sub dir" / "a.dcm", spacing_keyword)
    masks = make_masks()
    run = make_run(tmp_path, [make_record("key0001", "sub dir/a.dcm", masks)])

    result = export_run(run, root)

    assert result.failures == [] and len(result.written) == 1
    seg, labels = read_back(result.written[0])
    assert labels == ["L3", "L4", "L5", "S1"]
    assert seg.SegmentationType == "BINARY"
    pixels = seg.get_pixels_by_source_instance(
        [source.SOPInstanceUID], combine_segments=False
    )
    assert pixels.shape == (1, H, W, 4)
    for i, level in enumerate(labels):
        np.testing.assert_array_equal(pixels[0, :, :, i].astype(bool), masks[level])
    expected_codes = [codes.SCT.L3Vertebra, codes.SCT.L4Vertebra, codes.SCT.L5Vertebra,
                      codes.SCT.Sacrum]
    for item, code in zip(seg.SegmentSequence, expected_codes, strict=True):
        prop = item.SegmentedPropertyTypeCodeSequence[0]
        assert (prop.CodeValue, prop.CodingSchemeDesignator) == (code.value, "SCT")
        category = item.SegmentedPropertyCategoryCodeSequence[0]
        assert category.CodeValue == "91723000"
        assert item.SegmentAlgorithmType == "AUTOMATIC"
        assert item.SegmentAlgorithmName == "lumbarseg"
        assert item.AnatomicRegionSequence[0].CodingSchemeDesignator == "SCT"
    ref = seg.ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == source.SeriesInstanceUID
    assert ref.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert seg.StudyInstanceUID == source.StudyInstanceUID
    assert "FrameOfReferenceUID" not in seg  # CR: no frame of reference, source pixel grid


def test_source_with_frame_of_reference_keeps_it(tmp_path):
    root = tmp_path / "in"
    source = write_cr(root / "a.dcm")
    source.FrameOfReferenceUID = generate_uid()  # some DX writers set one without geometry
    source.save_as(root / "a.dcm", enforce_file_format=True)
    masks = make_masks()
    run = make_run(tmp_path, [make_record("k", "a.dcm", masks)])

    seg, labels = read_back(export_run(run, root).written[0])

    assert seg.FrameOfReferenceUID == source.FrameOfReferenceUID
    pixels = seg.get_pixels_by_source_instance([source.SOPInstanceUID], combine_segments=False)
    np.testing.assert_array_equal(pixels[0, :, :, labels.index("L4")].astype(bool), masks["L4"])


def test_default_export_has_no_patient_identifiers_keep_phi_has_them(tmp_path):
    root = tmp_path / "in"
    write_cr(root / "a.dcm")
    run = make_run(tmp_path, [make_record("pseudo42", "a.dcm", make_masks())])

    default = export_run(run, root, tmp_path / "default").written[0]
    kept = export_run(run, root, tmp_path / "kept", keep_phi=True).written[0]

    data = default.read_bytes()
    for secret in (PATIENT_NAME, PATIENT_ID, BIRTH_DATE, "ACC-55443", "Referrer", "Secret General"):
        assert secret.encode() not in data, secret
    seg = pydicom.dcmread(default)
    assert seg.PatientName.family_name == "pseudo42" and seg.PatientID == "pseudo42"
    assert seg.PatientIdentityRemoved == "YES"
    # De-identified by the Basic Profile with the source UIDs retained, in coded form.
    methods = [(c.CodeValue, c.CodingSchemeDesignator)
               for c in seg.DeidentificationMethodCodeSequence]
    assert methods == [("113100", "DCM"), ("113110", "DCM")]
    referenced = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    assert referenced.ReferencedSOPInstanceUID == pydicom.dcmread(root / "a.dcm").SOPInstanceUID
    kept_seg = pydicom.dcmread(kept)
    assert "DeidentificationMethodCodeSequence" not in kept_seg
    assert kept_seg.PatientName == PATIENT_NAME and kept_seg.PatientID == PATIENT_ID
    assert kept_seg.PatientBirthDate == BIRTH_DATE


def test_bad_records_are_reported_and_the_rest_exported(tmp_path, capsys):
    root = tmp_path / "in"
    write_cr(root / "good.dcm")
    write_cr(root / "other.dcm")
    (root / "corrupt.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00garbage")
    cv2.imwrite(str(root / "plain.png"), np.zeros((H, W), np.uint8))
    masks = make_masks()
    wrong_size = make_record("k_wrong", "other.dcm", masks)
    wrong_size["height"] = H + 1
    for vertebra in wrong_size["vertebrae"]:
        vertebra["segmentation"] = encode_mask(np.ones((H + 1, W), np.uint8))
    run = make_run(tmp_path, [
        make_record("k_good", "good.dcm", masks),
        make_record("k_corrupt", "corrupt.dcm", masks),
        make_record("k_png", "plain.png", masks),
        make_record("k_missing", "gone.dcm", masks),
        wrong_size,
    ])

    code = cli_main(["export-seg", "--run", str(run), "--input-root", str(root)])

    assert code == 1
    written = sorted(p.name for p in (run / "seg").glob("*.dcm"))
    assert written == ["k_good.dcm"]
    # export.json names images by key only unless --keep-paths
    text = (run / "seg" / "export.json").read_text()
    assert str(root) not in text and "gone.dcm" not in text
    report = json.loads(text)
    assert {f["key"] for f in report["failures"]} == {"k_missing", "k_wrong", "k_corrupt"}
    assert [s["key"] for s in report["skipped"]] == ["k_png"]
    capsys.readouterr()
    cli_main(["export-seg", "--run", str(run), "--input-root", str(root), "--keep-paths",
              "--out", str(tmp_path / "seg_paths")])
    report = json.loads((tmp_path / "seg_paths" / "export.json").read_text())
    failed = {Path(f["path"]).name: f["reason"] for f in report["failures"]}
    assert set(failed) == {"gone.dcm", "other.dcm", "corrupt.dcm"}
    assert "97x64" in failed["other.dcm"] and "96x64" in failed["other.dcm"]
    assert [Path(s["path"]).name for s in report["skipped"]] == ["plain.png"]
    err = capsys.readouterr().err
    assert "gone.dcm" in err and "other.dcm" in err


def test_build_segmentation_refuses_empty_record(tmp_path):
    source = write_cr(tmp_path / "a.dcm")
    with pytest.raises(ValueError, match="no vertebra masks"):
        build_segmentation(source, make_record("k", "a.dcm", {}))


def test_default_run_exports_through_the_private_linkage(tmp_path):
    """A default run's records carry no path and run.json no input folder: the sources are
    found through RUN/private/linkage.csv; without it (and no --input-root) one clear error."""
    from lumbarseg.errors import LumbarsegError
    from lumbarseg.inference.writers import OutputFolder

    root = tmp_path / "in"
    write_cr(root / "sub" / "a.dcm")
    record = make_record("k1", "sub/a.dcm", make_masks())
    del record["relative_path"]
    run = make_run(tmp_path, [record])
    with pytest.raises(LumbarsegError, match="--input-root"):
        export_run(run)
    OutputFolder(run).write_linkage([{"image_key": "k1", "relative_path": "sub/a.dcm",
                                      "source_path": str(root / "sub" / "a.dcm")}])
    assert [p.name for p in export_run(run).written] == ["k1.dcm"]
    # --input-root (the files moved) joins the linkage's relative path
    moved = tmp_path / "moved"
    root.rename(moved)
    assert export_run(run, moved, tmp_path / "seg2").written[0].name == "k1.dcm"


def test_every_level_the_labeller_names_exports_with_its_own_code(tmp_path):
    """T11, T12 and L6 are labels too (thoracolumbar films, transitional anatomy)."""
    from lumbarseg.levels import EXTENDED_LEVELS

    root = tmp_path / "in"
    write_cr(root / "a.dcm")
    masks = {}
    for k, level in enumerate(EXTENDED_LEVELS):
        mask = np.zeros((H, W), bool)
        mask[2 + 10 * k:9 + 10 * k, 15:45] = True
        masks[level] = mask
    result = export_run(make_run(tmp_path, [make_record("key0001", "a.dcm", masks)]), root)
    assert result.failures == [] and len(result.written) == 1
    seg, labels = read_back(result.written[0])
    assert labels == list(EXTENDED_LEVELS)
    coded = {item.SegmentLabel: item.SegmentedPropertyTypeCodeSequence[0].CodeMeaning
             for item in seg.SegmentSequence}
    assert coded["T11"] == codes.SCT.T11Vertebra.meaning
    assert coded["T12"] == codes.SCT.T12Vertebra.meaning

"""Inputs for the inference tests: a messy folder of real DICOM files, and its ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from tests.helpers import dicom_factory
from tests.helpers.spine import draw_tiny_spine

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
CPU_CONFIG = REPO / "configs" / "cpu" / "mask_rcnn_R_18_FPN.yaml"
# Written into every test DICOM; no output byte may contain them (unless --keep-phi).
PHI = {"PatientName": "Zyxwvu^Qponm", "PatientID": "PHI-ID-98765", "PatientBirthDate": "19471203"}
# Small test-time size and a low threshold, so the barely trained model detects something.
OPTS = ["INPUT.MIN_SIZE_TEST", "128", "INPUT.MAX_SIZE_TEST", "200",
        "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.05", "TEST.DETECTIONS_PER_IMAGE", "12"]


def _spine_dicom(rng, path: Path, height: int, width: int, photometric="MONOCHROME2",
                 syntax=None, annotations=None, **elements) -> None:
    from pydicom.uid import RLELossless

    image, anns = draw_tiny_spine(rng, height, width)
    stored = image.astype(np.int64) * 16  # 12-bit stored values
    if photometric == "MONOCHROME1":
        stored = 4095 - stored
    ds = dicom_factory.make_dataset(
        stored, bits_stored=12, photometric=photometric, patient_id=PHI["PatientID"],
        PixelSpacing=[0.5, 0.5], **elements,
    )
    ds.PatientName = PHI["PatientName"]
    ds.PatientBirthDate = PHI["PatientBirthDate"]
    if syntax == "rle":
        ds.compress(RLELossless)
    dicom_factory.write(path, ds)
    if annotations is not None:
        annotations.append((path, height, width, anns))


def make_input_folder(root: Path, seed: int = 0) -> dict:
    """Good DICOMs (plain, RLE, MONOCHROME1, two sizes; the wide one BurnedInAnnotation YES),
    a PNG, a corrupt and a truncated
    file, a Basic Text SR without pixels, a text file and an empty folder.

    Returns {"root", "gt": [(path, h, w, annotations)], "good", "bad", "skipped"}.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    rng = np.random.default_rng(seed)
    gt: list = []
    (root / "study1" / "series1").mkdir(parents=True)
    (root / "study2").mkdir()
    (root / "empty").mkdir()
    _spine_dicom(rng, root / "study1" / "series1" / "IM0001", 160, 128, annotations=gt)
    _spine_dicom(rng, root / "study1" / "series1" / "IM0002.dcm", 160, 128, syntax="rle",
                 annotations=gt)
    _spine_dicom(rng, root / "study1" / "series1" / "IM0003.dcm", 160, 128,
                 photometric="MONOCHROME1", annotations=gt)
    # Marked as carrying burned-in text: flagged, and its overlay drawn without its pixels.
    _spine_dicom(rng, root / "study2" / "wide.dcm", 150, 180, syntax="rle", annotations=gt,
                 BurnedInAnnotation="YES")
    _spine_dicom(rng, root / "study2" / "mono1_rle.dcm", 160, 128,
                 photometric="MONOCHROME1", syntax="rle", annotations=gt)
    image, anns = draw_tiny_spine(rng, 160, 128)
    cv2.imwrite(str(root / "study2" / "exported.png"), image)
    gt.append((root / "study2" / "exported.png", 160, 128, anns))
    # Bad files: garbage with a .dcm name, and a real DICOM cut in the middle of its pixels.
    (root / "study2" / "corrupt.dcm").write_bytes(b"\x00garbage" * 50)
    whole = (root / "study1" / "series1" / "IM0001").read_bytes()
    (root / "study2" / "truncated.dcm").write_bytes(whole[: len(whole) - 9000])
    # A Basic Text SR: valid DICOM, not an image.
    sr = Dataset()
    sr.file_meta = FileMetaDataset()
    sr.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sr.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    sr.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    sr.SOPClassUID = sr.file_meta.MediaStorageSOPClassUID
    sr.SOPInstanceUID = sr.file_meta.MediaStorageSOPInstanceUID
    sr.Modality = "SR"
    for keyword, value in PHI.items():
        setattr(sr, keyword, value)
    dicom_factory.write(root / "study2" / "report_sr.dcm", sr)
    (root / "study2" / "notes.txt").write_text("not an image\n")
    return {
        "root": root,
        "gt": gt,
        "good": sorted(str(p.relative_to(root).as_posix()) for p, *_ in gt),
        "bad": ["study2/corrupt.dcm", "study2/truncated.dcm"],
        "skipped": ["study2/notes.txt", "study2/report_sr.dcm"],
    }


def gt_coco(folder: dict, images_json: Path) -> dict:
    """Ground truth COCO with the image ids lumbarseg assigned (matched by relative path,
    through the run's private linkage)."""
    from lumbarseg.inference.writers import OutputFolder
    from lumbarseg.levels import COCO_CATEGORIES

    run = OutputFolder(images_json.parent)
    linkage = run.linkage()
    ids = {run.relative_path(im, linkage): im["id"]
           for im in json.loads(images_json.read_text())["images"]}
    images, annotations = [], []
    for path, height, width, anns in folder["gt"]:
        rel = path.relative_to(folder["root"]).as_posix()
        images.append({"id": ids[rel], "file_name": rel, "height": height, "width": width})
        for ann in anns:
            x, y, w, h = ann["bbox"]
            annotations.append({"id": len(annotations) + 1, "image_id": ids[rel],
                                "category_id": ann["category_id"] + 1, "bbox": ann["bbox"],
                                "segmentation": ann["segmentation"], "area": w * h,
                                "iscrowd": 0})
    return {"images": images, "annotations": annotations, "categories": COCO_CATEGORIES}

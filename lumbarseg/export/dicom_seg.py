"""DICOM Segmentation objects (one per radiograph) from an inference run, with highdicom.

Each SEG holds one BINARY segment per level found (segments may overlap), coded with SNOMED CT
concepts from pydicom's code dictionary, and references the source image's Study/Series/SOP
Instance UIDs so a viewer or PACS shows it over the X-ray.

Projection radiographs (CR/DX) have no Frame of Reference: highdicom then encodes the SEG in
the source image's pixel grid (single frame, no plane position/orientation). Pixel spacing is
deliberately not written in that case (the spacing lives in the referenced image, and a Pixel
Measures item without Slice Thickness is not readable by highdicom itself).

Patient data: highdicom copies the Patient and Study modules from the source. By default the
source header handed to it is a whitelist of technical attributes and UIDs, with PatientName and
PatientID replaced by the run's pseudonymous image key, so no identifier (name, id, birth date,
sex, accession number, dates, physicians, institution) reaches the SEG. The trade-off: such a
SEG still references the source UIDs, but its patient does not match the one in PACS, so a
PACS that reconciles by patient may file it apart or refuse it. Such a SEG says so: Patient
Identity Removed YES, and the De-identification Method Code Sequence names the Basic
Application Confidentiality Profile (113100) with the Retain UIDs Option (113110).
``keep_phi=True`` copies the source's patient/study attributes unchanged (for sending back to
the PACS it came from).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from lumbarseg import __version__
from lumbarseg.errors import InputFileError, LumbarsegError, one_line
from lumbarseg.inference.writers import OutputFolder
from lumbarseg.io.atomic import write_bytes_atomic, write_json_atomic
from lumbarseg.io.radiograph import is_dicom_path
from lumbarseg.levels import EXTRA_LEVELS, LEVEL_COLORS, LEVELS, level_rank

# Keyword of each level's SNOMED CT concept in pydicom's code dictionary (codes.SCT.<keyword>).
# SNOMED CT has no "first sacral vertebra" in pydicom's dictionary; S1 is coded as the sacrum.
# L6 (a lumbarised S1 / supernumerary lumbar vertebra) has no concept: coded as "Vertebra".
LEVEL_CODE_KEYWORDS: dict[str, str] = {
    "T11": "T11Vertebra",
    "T12": "T12Vertebra",
    "L1": "L1Vertebra",
    "L2": "L2Vertebra",
    "L3": "L3Vertebra",
    "L4": "L4Vertebra",
    "L5": "L5Vertebra",
    "L6": "Vertebra",
    "S1": "Sacrum",
}
# Anatomic region of each level (the spine segment it belongs to).
LEVEL_REGION_KEYWORDS: dict[str, str] = {
    "T11": "ThoracicSpine",
    "T12": "ThoracicSpine",
    "S1": "LumboSacralSpine",
}
DEFAULT_REGION_KEYWORD = "LumbarSpine"
SEG_SERIES_NUMBER = 9901
SEG_SERIES_DESCRIPTION = "lumbarseg vertebrae (automatic, not for clinical use)"

# Source attributes the SEG needs besides identity: UIDs, geometry and image description.
_SOURCE_WHITELIST: tuple[str, ...] = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "PositionReferenceIndicator",
    "Modality",
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "NumberOfFrames",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "ImageOrientationPatient",
    "ImagePositionPatient",
    "PatientOrientation",
    "Laterality",
    "ImageLaterality",
    "BodyPartExamined",
    "ViewPosition",
    "SeriesNumber",
    "InstanceNumber",
)


@dataclass
class ExportResult:
    """What an export run did: files written, records skipped (with why), failures (with why).

    Skips and failures are ``{key, path, reason}``; ``export.json`` carries the path (of the
    source image) only when asked (``keep_paths``), like the inference outputs."""

    written: list[Path] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)

    def as_dict(self, keep_paths: bool = False) -> dict:
        def entry(e: dict) -> dict:
            return e if keep_paths else {k: v for k, v in e.items() if k != "path"}

        return {
            "written": [p.name for p in self.written],
            "skipped": [entry(e) for e in self.skipped],
            "failures": [entry(e) for e in self.failures],
        }


def level_code(level: str):
    """SNOMED CT concept (pydicom ``Code``) of a level's structure."""
    from pydicom.sr.codedict import codes

    return getattr(codes.SCT, LEVEL_CODE_KEYWORDS.get(level, "Vertebra"))


def level_region(level: str):
    """SNOMED CT concept of the spine region a level lies in."""
    from pydicom.sr.codedict import codes

    return getattr(codes.SCT, LEVEL_REGION_KEYWORDS.get(level, DEFAULT_REGION_KEYWORD))


def _level_rgb(level: str) -> tuple[int, int, int]:
    if level in LEVELS:
        return LEVEL_COLORS[LEVELS.index(level)]
    return (128, 128, 128)


def segment_descriptions(levels: Sequence[str]) -> list:
    """highdicom segment descriptions, numbered 1.. in the order of ``levels``."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    algorithm = hd.AlgorithmIdentificationSequence(
        name="lumbarseg",
        family=codes.cid7162.ArtificialIntelligence,
        version=__version__,
    )
    return [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=level,
            segmented_property_category=codes.SCT.AnatomicalStructure,
            segmented_property_type=level_code(level),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            anatomic_regions=[level_region(level)],
            display_color=hd.color.CIELabColor.from_rgb(*_level_rgb(level)),
        )
        for number, level in enumerate(levels, start=1)
    ]


def masks_by_level(record: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """HxW bool mask per level of a per-image record (instances of one level are merged)."""
    from pycocotools import mask as mask_utils

    height, width = int(record["height"]), int(record["width"])
    masks: dict[str, np.ndarray] = {}
    for vertebra in record.get("vertebrae") or []:
        level = vertebra.get("level")
        rle = vertebra.get("segmentation")
        if not level or not rle:
            continue
        if level not in LEVELS and level not in EXTRA_LEVELS:
            raise ValueError(f"unknown level {level!r}")
        if [int(v) for v in rle["size"]] != [height, width]:
            raise ValueError(
                f"mask of {level} is {rle['size'][0]}x{rle['size'][1]}, image is {height}x{width}"
            )
        mask = mask_utils.decode(rle).astype(bool)
        masks[level] = masks[level] | mask if level in masks else mask
    return {
        level: masks[level]
        for level in sorted(masks, key=level_rank)
        if masks[level].any()
    }


def _pseudonymous_source(source, pseudonym: str):
    """A header with only technical attributes and UIDs, the patient named by the pseudonym."""
    from pydicom.dataset import Dataset

    header = Dataset()
    for keyword in _SOURCE_WHITELIST:
        if keyword in source:
            header[keyword] = source[keyword]
    header.PatientName = f"{pseudonym}^"  # family name only; the caret says so
    header.PatientID = pseudonym
    header.PatientBirthDate = ""
    header.PatientSex = ""
    header.StudyDate = ""
    header.StudyTime = ""
    header.StudyID = ""
    header.AccessionNumber = ""
    header.ReferringPhysicianName = ""
    header.PatientIdentityRemoved = "YES"
    header.DeidentificationMethod = "lumbarseg: identifiers replaced by pseudonymous image key"
    return header


def _uid(*parts: str) -> str:
    """Deterministic UID: re-exporting the same prediction replaces, not duplicates, in PACS."""
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=["lumbarseg-seg", __version__, *parts])


def _mask_digest(masks: Mapping[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for level, mask in masks.items():
        digest.update(level.encode())
        digest.update(np.packbits(mask).tobytes())
    return digest.hexdigest()


def build_segmentation(source, record: Mapping[str, Any], *, keep_phi: bool = False):
    """A highdicom ``Segmentation`` of one per-image record over its source DICOM dataset.

    Raises ValueError when the record does not fit the source (size, no segments).
    """
    import highdicom as hd

    masks = masks_by_level(record)
    if not masks:
        raise ValueError("no vertebra masks to export")
    rows, columns = int(source.Rows), int(source.Columns)
    height, width = int(record["height"]), int(record["width"])
    if (rows, columns) != (height, width):
        raise ValueError(f"prediction is {height}x{width} but the DICOM image is {rows}x{columns}")
    if int(source.get("NumberOfFrames", 1) or 1) != 1:
        raise ValueError("multi-frame source images are not supported")
    levels = list(masks)
    pixels = np.stack([masks[level] for level in levels], axis=-1)[None].astype(np.uint8)
    pseudonym = str(record.get("image_key") or "anonymous")
    header = source if keep_phi else _pseudonymous_source(source, pseudonym)
    digest = _mask_digest(masks)
    seg = hd.seg.Segmentation(
        source_images=[header],
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segment_descriptions(levels),
        series_instance_uid=_uid("series", str(source.SeriesInstanceUID)),
        series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=_uid("instance", str(source.SOPInstanceUID), digest),
        instance_number=1,
        manufacturer="lumbarseg",
        manufacturer_model_name="lumbarseg",
        software_versions=__version__,
        device_serial_number="0",
        content_label="VERTEBRAE",
        content_description="L1-L5/S1 vertebrae, automatic",
        series_description=SEG_SERIES_DESCRIPTION,
        omit_empty_frames=False,
    )
    _drop_incomplete_pixel_measures(seg)
    if not keep_phi:
        seg.PatientIdentityRemoved = "YES"
        seg.DeidentificationMethodCodeSequence = deidentification_codes()
    return seg


def deidentification_codes() -> list:
    """What a default SEG's de-identification did, as PS3.16 CID 7050 codes: the Basic
    Application Confidentiality Profile (identifiers removed or replaced) with the Retain
    UIDs Option (the source's Study/Series/SOP Instance UIDs are kept so viewers can place
    the SEG over its image)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    chosen = (codes.cid7050.BasicApplicationConfidentialityProfile,
              codes.cid7050.RetainUidsOption)
    return [hd.sr.CodedConcept(c.value, c.scheme_designator, c.meaning) for c in chosen]


def _drop_incomplete_pixel_measures(seg) -> None:
    """Without a Frame of Reference, a Pixel Measures item lacking Slice Thickness is dropped.

    highdicom writes one from the source's PixelSpacing but its reader requires Slice Thickness;
    for a projection radiograph the spacing is defined by the referenced image anyway.
    """
    if "FrameOfReferenceUID" in seg:
        return
    for item in seg.get("SharedFunctionalGroupsSequence", []):
        measures = item.get("PixelMeasuresSequence")
        if measures is not None and not all("SliceThickness" in m for m in measures):
            del item.PixelMeasuresSequence


def segmentation_bytes(seg) -> bytes:
    buffer = BytesIO()
    seg.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def export_record(
    record: Mapping[str, Any],
    source_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    keep_phi: bool = False,
) -> Path:
    """Write the SEG of one record over the DICOM at ``source_path``; raises InputFileError."""
    import pydicom

    # pydicom and highdicom raise many exception types on odd files; each becomes one line.
    try:
        source = pydicom.dcmread(source_path)
    except Exception as exc:
        problem = f"cannot read the source DICOM: {one_line(exc)}"
        raise InputFileError(source_path, problem) from exc
    try:
        seg = build_segmentation(source, record, keep_phi=keep_phi)
        data = segmentation_bytes(seg)
    except Exception as exc:
        raise InputFileError(source_path, f"cannot build a DICOM SEG: {one_line(exc)}") from exc
    write_bytes_atomic(out_path, data)
    return Path(out_path)


def export_run(
    run_dir: str | os.PathLike,
    input_root: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    keep_phi: bool = False,
    keep_paths: bool = False,
    progress: bool = False,
) -> ExportResult:
    """Write ``<out_dir>/<image_key>.dcm`` for each DICOM-sourced record of an inference run.

    Sources are found through ``OutputFolder.source_path`` (``input_root`` or run.json's, and
    the run's private linkage). Non-DICOM sources and images without masks are skipped with a
    reason; a record that fails is reported and the others go on. ``<out_dir>/export.json``
    lists all (by image key; source paths only with ``keep_paths``).
    """
    from lumbarseg.inference.progress import terminal_bar

    run_dir = Path(run_dir)
    folder = OutputFolder(run_dir)
    linkage = folder.linkage()
    if input_root is None and folder.input_root() is None and not linkage:
        raise LumbarsegError(f"{run_dir}: neither run.json nor {folder.linkage_path} says "
                             "where the source images are; pass --input-root")
    out = Path(out_dir) if out_dir is not None else run_dir / "seg"
    result = ExportResult()
    bar = terminal_bar(folder.records(), "export-seg", progress, folder.record_count())
    for sidecar, record, problem in bar:
        if record is None:
            result.failures.append({"key": sidecar.stem, "path": str(sidecar), "reason": problem})
            continue
        _export_one(record, folder.source_path(record, input_root, linkage), out, result,
                    keep_phi)
    write_json_atomic(out / "export.json", result.as_dict(keep_paths), indent=2)
    return result


def _export_one(record: Mapping[str, Any], source: Path | None, out: Path,
                result: ExportResult, keep_phi: bool) -> None:
    key = str(record["image_key"])
    where = {"key": key, "path": str(source) if source is not None else ""}
    if not record.get("vertebrae"):
        result.skipped.append({**where, "reason": "no vertebrae found"})
    elif source is None:
        result.failures.append({**where, "reason": "source path unknown (not in the run's "
                                "private/linkage.csv); pass --input-root"})
    elif not source.is_file():
        result.failures.append({**where, "reason": "source file not found"})
    elif not is_dicom_path(source, trust_suffix=True):
        result.skipped.append({**where, "reason": "source is not a DICOM file"})
    else:
        try:
            result.written.append(
                export_record(record, source, out / f"{key}.dcm", keep_phi=keep_phi))
        except InputFileError as exc:
            result.failures.append({**where, "reason": exc.problem})

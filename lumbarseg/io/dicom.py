"""DICOM radiographs to display-ready pixels, with the standard LUT pipeline.

stored values -> Modality LUT (rescale or LUT) -> VOI (LUT, else the FIRST window, else
nothing: ``to_network_input`` then uses a robust percentile range) -> MONOCHROME1 inversion.
Every unusable file raises ``InputFileError`` with a one-line reason; objects that are not
images at all (SR, presentation states, SEG...) raise ``NotAnImageError`` so batch jobs can
skip them with that reason. Metadata never carries patient identifiers: only UIDs, technical
facts and, when the caller gives a secret, a keyed pseudonymous ``patient_key`` for splitting
datasets by patient.
"""

from __future__ import annotations

import hashlib
import hmac
import warnings
from collections.abc import MutableSequence
from pathlib import Path
from typing import Any

import numpy as np

from lumbarseg.errors import InputFileError, one_line
from lumbarseg.io.radiograph import Radiograph

# SOP classes (or UID prefixes) that never hold a radiograph to segment.
_NON_IMAGE_SOP_PREFIXES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.88.": "structured report",
    "1.2.840.10008.5.1.4.1.1.11.": "presentation state",
    "1.2.840.10008.5.1.4.1.1.66": "segmentation/registration object",
    "1.2.840.10008.5.1.4.1.1.104.": "encapsulated document",
    "1.2.840.10008.5.1.4.1.1.481.": "radiotherapy object",
    "1.2.840.10008.5.1.4.1.1.9.": "waveform",
    "1.2.840.10008.5.1.4.1.1.67": "real-world value mapping",
}
# Identifiers copied only with --keep-phi (then the user asked for them in the outputs):
# into the per-image record and, as columns, into summary.csv.
PHI_KEYWORDS = ("PatientID", "PatientName", "StudyInstanceUID", "SeriesInstanceUID",
                "SOPInstanceUID", "AccessionNumber", "StudyDate")
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


class NotAnImageError(InputFileError):
    """The DICOM object is valid but is not an image (SR, presentation state, SEG...)."""


def patient_key(patient_id: str, secret: str) -> str:
    """Pseudonymous, stable key of a patient id: HMAC-SHA256 under ``secret``, 16 hex digits.

    There is deliberately no default secret: patient ids are a small space, so a key made with
    a public salt can be reversed by hashing every id. Callers keep a per-dataset random
    secret private (``lumbarseg convert`` stores it beside its linkage file)."""
    if not secret:
        raise ValueError("patient_key needs a non-empty secret")
    return hmac.new(secret.encode(), patient_id.encode(), hashlib.sha256).hexdigest()[:16]


def _str(ds: Any, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    if isinstance(value, (tuple, MutableSequence)):  # pydicom's MultiValue is one
        return "\\".join(str(v) for v in value)
    return str(value)


def _dicom_patient_identity(ds: Any) -> str | None:
    """PatientID; else name+birth date; else the study (one patient per study). Only ever
    passed through ``patient_key``, never stored."""
    pid = _str(ds, "PatientID")
    if pid and pid.strip():
        return "id:" + pid.strip()
    name, birth = _str(ds, "PatientName"), _str(ds, "PatientBirthDate")
    if name and name.strip():
        return f"name:{name.strip()}|{birth or ''}"
    study = _str(ds, "StudyInstanceUID")
    return "study:" + study if study else None


def _check_is_image(ds: Any, path: str | Path) -> None:
    sop = str(
        ds.get("SOPClassUID", "") or getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", "")
    )
    for prefix, kind in _NON_IMAGE_SOP_PREFIXES.items():
        if sop.startswith(prefix):
            raise NotAnImageError(path, f"not an image: {kind} (SOP class {_sop_name(sop)})")
    if not any(k in ds for k in _PIXEL_KEYWORDS):
        raise NotAnImageError(path, f"DICOM object has no pixel data (SOP class {_sop_name(sop)})")


def _sop_name(sop: str) -> str:
    from pydicom.uid import UID

    name = UID(sop).name if sop else "missing"
    return f"{name} [{sop}]" if name != sop else sop


def _check_frame_and_colour(ds: Any, path: str | Path) -> None:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise InputFileError(
            path, f"multi-frame DICOM ({frames} frames); one radiograph per file is expected"
        )
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise InputFileError(
            path,
            f"colour DICOM (PhotometricInterpretation={photometric or 'missing'}, "
            f"SamplesPerPixel={samples}); a grayscale radiograph is expected",
        )
    for keyword in ("Rows", "Columns", "BitsAllocated"):
        if not ds.get(keyword):
            raise InputFileError(path, f"DICOM image lacks {keyword}")


def _decode(ds: Any, path: str | Path) -> np.ndarray:
    from pydicom.pixels import get_decoder

    file_meta = getattr(ds, "file_meta", None)
    syntax = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    if syntax is None:
        raise InputFileError(path, "DICOM file has no transfer syntax in its file meta information")
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise InputFileError(
            path, f"unsupported transfer syntax {syntax.name} [{syntax}]"
        ) from None
    if not decoder.is_available:
        raise InputFileError(
            path,
            f"unsupported transfer syntax {syntax.name}: no pixel-data plugin installed "
            "(see `lumbarseg doctor`)",
        )
    if "PixelData" in ds and not syntax.is_encapsulated:
        expected = int(ds.Rows) * int(ds.Columns) * int(ds.BitsAllocated) // 8
        actual = len(ds.PixelData)
        if actual < expected:
            raise InputFileError(path, f"truncated pixel data ({actual} of {expected} bytes)")
    try:
        return np.asarray(ds.pixel_array)
    except Exception as exc:  # decoders raise many types; the file is what is wrong
        first = one_line(exc)
        problem = "truncated or corrupt" if syntax.is_encapsulated else "undecodable"
        raise InputFileError(path, f"{problem} pixel data ({syntax.name}): {first}") from None


def _window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """DICOM PS3.3 C.11.2 windowing to [0, 1] (so the display range is fixed, not data-driven)."""
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    if function == "LINEAR":
        center, width = center - 0.5, width - 1.0
    return np.clip((values - center) / width + 0.5, 0.0, 1.0)


def _first(value: Any) -> float:
    """The first of a possibly multi-valued DS element (several windows: use the first)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        return float(value)
    return float(value[0])


def _lut_input(values: np.ndarray) -> np.ndarray:
    """The Modality LUT output as the integers a VOI LUT is indexed by (PS3.3 C.11.2).

    A rescale with integer slope and intercept, or a Modality LUT, gives whole numbers: they
    are cast exactly. Fractional values (a fractional rescale) are truncated towards zero,
    the conversion pydicom's ``apply_voi`` itself makes of a float array (with a warning)."""
    finite = values[np.isfinite(values)]
    if finite.size and (finite.min() < -(2**62) or finite.max() > 2**62):
        raise ValueError("Modality LUT output out of the integer range")
    return np.trunc(np.nan_to_num(values)).astype(np.int64)


def _apply_voi(ds: Any, values: np.ndarray) -> tuple[np.ndarray, tuple[float, float] | None, str]:
    """Return (pixels, display range or None, description of what was applied)."""
    from pydicom.pixels import apply_voi

    if ds.get("VOILUTSequence"):
        item = ds.VOILUTSequence[0]
        try:
            bits = int(item.LUTDescriptor[2])
            out = apply_voi(_lut_input(values), ds, index=0)
            return out.astype(np.float32), (0.0, float(2**bits - 1)), "VOI LUT (first)"
        except Exception as exc:  # a broken LUT should not lose the image; fall through
            note = f"VOI LUT unusable ({type(exc).__name__}); "
    else:
        note = ""
    if "WindowCenter" in ds and "WindowWidth" in ds:
        function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
        try:
            center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
        except (TypeError, ValueError, IndexError):
            center, width = float("nan"), float("nan")
        minimum = 1.0 if function == "LINEAR" else 0.0
        if (
            np.isfinite(center)
            and np.isfinite(width)
            and width > minimum
            and function in ("LINEAR", "LINEAR_EXACT", "SIGMOID")
        ):
            out = _window(values.astype(np.float64), center, width, function)
            return (
                out.astype(np.float32),
                (0.0, 1.0),
                f"{note}window C={center:g} W={width:g} {function}",
            )
        note += f"window unusable (C={center}, W={width}, {function}); "
    return values.astype(np.float32), None, f"{note}none (robust percentile range)"


def _pair(ds: Any, keyword: str) -> tuple[float, float] | None:
    """A positive, finite (row, col) spacing element, or None."""
    value = ds.get(keyword)
    try:
        row, col = float(value[0]), float(value[1])
    except (TypeError, ValueError, IndexError):
        return None
    if not (row > 0 and col > 0 and np.isfinite(row) and np.isfinite(col)):
        return None
    return row, col


def _magnification(ds: Any) -> float:
    value = ds.get("EstimatedRadiographicMagnificationFactor")
    try:
        factor = float(value) if value else 1.0
    except (TypeError, ValueError):
        return 1.0
    return factor if factor > 0 and np.isfinite(factor) else 1.0


def _spacing(ds: Any) -> tuple[tuple[float, float] | None, str | None]:
    """(row, col) spacing in mm and which spacing it is (PS3.3 10.7.1.3).

    ``PixelSpacing`` with a ``PixelSpacingCalibrationType`` (GEOMETRY, FIDUCIAL) is calibrated
    at the patient: used as is. ``PixelSpacing`` without one that equals ``ImagerPixelSpacing``
    is the detector's spacing copied over, so it is treated as detector-plane spacing, like
    ``ImagerPixelSpacing`` alone: divided by ``EstimatedRadiographicMagnificationFactor`` when
    given, else reported as at the detector plane (about 10-20 % larger than at the spine).
    Sources: ``PixelSpacing``, ``PixelSpacing (GEOMETRY)``, ``PixelSpacing (FIDUCIAL)``,
    ``ImagerPixelSpacing / magnification F``, ``detector plane (ImagerPixelSpacing)``."""
    pixel, imager = _pair(ds, "PixelSpacing"), _pair(ds, "ImagerPixelSpacing")
    calibration = str(ds.get("PixelSpacingCalibrationType", "") or "").strip().upper()
    if pixel is not None and calibration:
        return pixel, f"PixelSpacing ({calibration})"
    if pixel is not None and (imager is None or not np.allclose(pixel, imager)):
        return pixel, "PixelSpacing"
    detector = imager or pixel
    if detector is None:
        return None, None
    factor = _magnification(ds)
    if factor != 1.0:
        row, col = detector
        return (row / factor, col / factor), f"ImagerPixelSpacing / magnification {factor:g}"
    return detector, "detector plane (ImagerPixelSpacing)"


_META_KEYWORDS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "Rows",
    "Columns",
    "PatientOrientation",
    "ViewPosition",
    "ImageLaterality",
    "Laterality",
    "BodyPartExamined",
    "PresentationIntentType",
    "FieldOfViewRotation",
    "FieldOfViewHorizontalFlip",
    "ImagerPixelSpacing",
    "PixelSpacing",
    "PixelSpacingCalibrationType",
    "EstimatedRadiographicMagnificationFactor",
    "BurnedInAnnotation",
)


def read_dicom(path: str | Path, patient_secret: str | None = None, *,
               keep_phi: bool = False) -> Radiograph:
    """Read one single-frame grayscale DICOM image; raise InputFileError with the reason if not.

    With ``patient_secret``, ``meta["patient_key"]`` is the keyed pseudonym of the patient.
    ``keep_phi`` also returns the patient identifiers of ``PHI_KEYWORDS`` (``Radiograph.phi``),
    from the same read: the file is opened once."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(str(path))
    except InvalidDicomError:
        raise InputFileError(
            path, "not a DICOM file (no DICM preamble or file meta header)"
        ) from None
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        problem = f"unreadable DICOM file ({one_line(exc, with_type=True)})"
        raise InputFileError(path, problem) from None
    # pydicom only warns when the file ends early (it drops the cut element): that is an error.
    ended = [w for w in caught if "end of file" in str(w.message).lower()]
    if ended:
        raise InputFileError(path, f"truncated DICOM file ({str(ended[0].message).strip()})")
    _check_is_image(ds, path)
    _check_frame_and_colour(ds, path)
    stored = _decode(ds, path)
    if stored.ndim != 2:
        raise InputFileError(path, f"unexpected pixel array shape {stored.shape}")
    try:
        values = np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)
    except Exception as exc:
        raise InputFileError(path, f"unusable Modality LUT/rescale ({exc})") from None
    pixels, display_range, voi = _apply_voi(ds, values)
    photometric = str(ds.PhotometricInterpretation).strip()
    if photometric == "MONOCHROME1":  # low values are white: invert so higher = brighter
        if display_range is not None:
            low, high = display_range
        else:
            finite = pixels[np.isfinite(pixels)]
            low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        pixels = (high + low) - pixels
    spacing, spacing_source = _spacing(ds)
    meta: dict[str, Any] = {k: _str(ds, k) for k in _META_KEYWORDS if k in ds}
    meta.update(
        {
            "TransferSyntaxUID": str(ds.file_meta.TransferSyntaxUID),
            "voi": voi,
            "pixel_spacing_source": spacing_source,
        }
    )
    identity = _dicom_patient_identity(ds) if patient_secret else None
    if identity:
        meta["patient_key"] = patient_key(identity, patient_secret)
    return Radiograph(
        pixels=np.ascontiguousarray(pixels, dtype=np.float32),
        source_path=str(path),
        pixel_spacing_mm=spacing,
        meta=meta,
        display_range=display_range,
        phi={k: str(ds.get(k, "") or "") for k in PHI_KEYWORDS} if keep_phi else None,
    )

"""DICOM reading: LUT pipeline, compressed syntaxes, and one clear error per kind of bad file."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless, JPEGLosslessSV1, JPEGLSLossless, RLELossless

from lumbarseg.errors import InputFileError
from lumbarseg.io.dicom import NotAnImageError, patient_key, read_dicom
from lumbarseg.io.radiograph import (
    is_dicom_path,
    load_network_input,
    read_radiograph,
    to_network_input,
)


def test_plain_dicom_pixels_spacing_and_no_phi(tmp_path, dcm):
    stored = dcm.ramp()
    path = dcm.write(tmp_path / "a.dcm", dcm.make_dataset(stored, ImagerPixelSpacing=[0.2, 0.15]))
    image = read_dicom(path)
    assert image.pixels.dtype == np.float32 and image.pixels.shape == stored.shape
    np.testing.assert_array_equal(image.pixels, stored.astype(np.float32))
    assert image.pixel_spacing_mm == (0.2, 0.15)
    assert image.meta["pixel_spacing_source"] == "detector plane (ImagerPixelSpacing)"
    assert image.display_range is None and "percentile" in image.meta["voi"]
    text = json.dumps(image.meta)
    for phi in ("Doe", "Jane", "PAT-001", "19600101"):
        assert phi not in text
    assert "patient_key" not in image.meta  # no secret given, no key
    keyed = read_dicom(path, patient_secret="dataset-secret")
    assert keyed.meta["patient_key"] == patient_key("id:PAT-001", "dataset-secret")
    assert is_dicom_path(path) and read_radiograph(path).meta["SOPInstanceUID"]


@pytest.mark.parametrize("elements, spacing, source", [
    ({"PixelSpacing": [0.1, 0.1], "ImagerPixelSpacing": [0.2, 0.2]}, (0.1, 0.1), "PixelSpacing"),
    ({"ImagerPixelSpacing": [0.2, 0.2], "EstimatedRadiographicMagnificationFactor": 1.25},
     (0.16, 0.16), "ImagerPixelSpacing / magnification 1.25"),
    ({"ImagerPixelSpacing": [0.2, 0.3]}, (0.2, 0.3), "detector plane (ImagerPixelSpacing)"),
    # PixelSpacing copied from the detector (equal, no calibration type): still the detector's.
    ({"PixelSpacing": [0.2, 0.2], "ImagerPixelSpacing": [0.2, 0.2],
      "EstimatedRadiographicMagnificationFactor": 1.1},
     (0.2 / 1.1, 0.2 / 1.1), "ImagerPixelSpacing / magnification 1.1"),
    # A calibrated PixelSpacing is at the patient: used as is, whatever else is there.
    ({"PixelSpacing": [0.2, 0.2], "ImagerPixelSpacing": [0.2, 0.2],
      "PixelSpacingCalibrationType": "GEOMETRY", "EstimatedRadiographicMagnificationFactor": 1.1},
     (0.2, 0.2), "PixelSpacing (GEOMETRY)"),
    ({"PixelSpacing": [0.18, 0.18], "PixelSpacingCalibrationType": "FIDUCIAL"},
     (0.18, 0.18), "PixelSpacing (FIDUCIAL)"),
    ({}, None, None),
])
def test_pixel_spacing_and_its_source(tmp_path, dcm, elements, spacing, source):
    image = read_dicom(dcm.write(tmp_path / "a.dcm", dcm.make_dataset(dcm.ramp(), **elements)))
    assert image.pixel_spacing_mm == (pytest.approx(spacing) if spacing else None)
    assert image.meta["pixel_spacing_source"] == source


def test_rescale_signed_and_bits_stored(tmp_path, dcm):
    stored = dcm.ramp(bits=10) - 512  # signed 10-bit values
    ds = dcm.make_dataset(stored, bits_stored=10, signed=True, RescaleSlope=2, RescaleIntercept=-7)
    image = read_dicom(dcm.write(tmp_path / "a.dcm", ds))
    np.testing.assert_allclose(image.pixels, stored * 2.0 - 7.0)


def test_first_window_used_and_monochrome1_inverted_after_voi(tmp_path, dcm):
    stored = dcm.ramp()
    windows = {"WindowCenter": [1000, 3000], "WindowWidth": [800, 100]}
    mono2 = read_dicom(dcm.write(tmp_path / "m2.dcm", dcm.make_dataset(stored, **windows)))
    mono1 = read_dicom(
        dcm.write(
            tmp_path / "m1.dcm", dcm.make_dataset(stored, photometric="MONOCHROME1", **windows)
        )
    )
    assert mono2.display_range == (0.0, 1.0) and "C=1000 W=800" in mono2.meta["voi"]
    # DICOM LINEAR windowing of the first window, in [0, 1].
    expected = np.clip((stored - 999.5) / 799.0 + 0.5, 0, 1)
    np.testing.assert_allclose(mono2.pixels, expected, atol=1e-6)
    np.testing.assert_allclose(mono1.pixels, 1.0 - expected, atol=1e-6)
    net = to_network_input(mono2)
    assert net.dtype == np.uint8 and net.min() == 0 and net.max() == 255
    np.testing.assert_array_equal(to_network_input(mono1), 255 - net)


def test_monochrome1_without_window_inverts(tmp_path, dcm):
    stored = dcm.ramp()
    image = read_dicom(
        dcm.write(tmp_path / "a.dcm", dcm.make_dataset(stored, photometric="MONOCHROME1"))
    )
    np.testing.assert_allclose(image.pixels, stored.max() + stored.min() - stored)


def test_voi_lut_sequence_takes_precedence(tmp_path, dcm):
    stored = dcm.ramp(bits=8)
    lut = Dataset()
    lut.LUTDescriptor = [256, 0, 8]
    lut.add_new(0x00283006, "US", [255 - i for i in range(256)])  # LUTData
    ds = dcm.make_dataset(stored, bits_stored=8, WindowCenter=100, WindowWidth=50)
    ds.VOILUTSequence = [lut]
    image = read_dicom(dcm.write(tmp_path / "a.dcm", ds))
    assert image.meta["voi"].startswith("VOI LUT") and image.display_range == (0.0, 255.0)
    np.testing.assert_array_equal(image.pixels, 255 - stored)


@pytest.mark.parametrize("slope, intercept", [(1, 0), (1, -20), (0.5, 3)])
def test_voi_lut_gets_integers_no_float_warning_same_pixels(tmp_path, dcm, slope, intercept):
    """The VOI LUT is indexed by the Modality LUT output as integers: no pydicom warning about
    a float input, and the same pixels pydicom gives for its own (warned) float path."""
    import warnings

    from pydicom.pixels import apply_modality_lut, apply_voi

    stored = dcm.ramp(bits=8)
    lut = Dataset()
    lut.LUTDescriptor = [200, 0, 8]
    lut.add_new(0x00283006, "US", [(7 * i) % 256 for i in range(200)])  # LUTData
    ds = dcm.make_dataset(stored, bits_stored=8, RescaleSlope=slope,
                          RescaleIntercept=intercept)
    ds.VOILUTSequence = [lut]
    path = dcm.write(tmp_path / "a.dcm", ds)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = read_dicom(path)
    assert not [w for w in caught if "VOI LUT" in str(w.message)]
    assert image.meta["voi"] == "VOI LUT (first)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = apply_voi(apply_modality_lut(stored, ds).astype(np.float64), ds)
    np.testing.assert_array_equal(image.pixels, reference.astype(np.float32))
    assert len(np.unique(image.pixels)) > 20  # the LUT really mapped a range of values


def test_network_input_identity_for_8bit_png(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (30, 20), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), pixels)
    np.testing.assert_array_equal(load_network_input(tmp_path / "a.png"), pixels)


@pytest.mark.parametrize(
    "syntax", [RLELossless, JPEGLSLossless, JPEG2000Lossless], ids=["rle", "jpegls", "j2k"]
)
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_compressed_decodes_like_uncompressed_twin(tmp_path, dcm, syntax, signed):
    stored = dcm.ramp(bits=12) - (2048 if signed else 0)
    plain = dcm.make_dataset(stored, signed=signed, PixelSpacing=[0.1, 0.1])
    twin = dcm.make_dataset(stored, signed=signed, PixelSpacing=[0.1, 0.1])
    twin.compress(syntax)
    a = read_dicom(dcm.write(tmp_path / "plain.dcm", plain))
    b = read_dicom(dcm.write(tmp_path / "twin.dcm", twin))
    assert b.meta["TransferSyntaxUID"] == str(syntax)
    assert len(twin.PixelData) < stored.size * 2  # really compressed
    np.testing.assert_array_equal(a.pixels, b.pixels)
    np.testing.assert_array_equal(to_network_input(a), to_network_input(b))


def test_jpeg_lossless_decodes(tmp_path, dcm):
    """JPEG lossless (process 14 SV1) has no permissive encoder installed; gdcm encodes it."""
    gdcm = pytest.importorskip("gdcm")
    stored = dcm.ramp(bits=12)
    src = dcm.write(tmp_path / "plain.dcm", dcm.make_dataset(stored))
    reader = gdcm.ImageReader()
    reader.SetFileName(str(src))
    assert reader.Read()
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
    change.SetInput(reader.GetImage())
    assert change.Change()
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(tmp_path / "jpegll.dcm"))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write()
    image = read_dicom(tmp_path / "jpegll.dcm")
    assert image.meta["TransferSyntaxUID"] == str(JPEGLosslessSV1)
    np.testing.assert_array_equal(image.pixels, stored.astype(np.float32))


# --- one specific error per kind of broken input -------------------------------------------


def _error(path) -> InputFileError:
    with pytest.raises(InputFileError) as info:
        read_dicom(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return info.value


def test_not_dicom(tmp_path):
    (tmp_path / "x.dcm").write_bytes(b"hello, I am text" * 20)
    assert "not a DICOM file" in _error(tmp_path / "x.dcm").problem


def test_no_pixel_data_is_not_an_image(tmp_path, dcm):
    ds = dcm.make_dataset(dcm.ramp())
    del ds.PixelData
    err = _error(dcm.write(tmp_path / "a.dcm", ds))
    assert isinstance(err, NotAnImageError) and "no pixel data" in err.problem


@pytest.mark.parametrize(
    "sop, word",
    [
        ("1.2.840.10008.5.1.4.1.1.88.11", "structured report"),
        ("1.2.840.10008.5.1.4.1.1.11.1", "presentation state"),
    ],
)
def test_sr_and_presentation_state_skipped_with_reason(tmp_path, dcm, sop, word):
    ds = dcm.make_dataset(dcm.ramp())
    del ds.PixelData
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop
    err = _error(dcm.write(tmp_path / "a.dcm", ds))
    assert isinstance(err, NotAnImageError) and word in err.problem


def test_multi_frame(tmp_path, dcm):
    stored = np.concatenate([dcm.ramp(), dcm.ramp(seed=1)])
    ds = dcm.make_dataset(stored)
    ds.Rows, ds.NumberOfFrames = 48, 2
    assert "multi-frame" in _error(dcm.write(tmp_path / "a.dcm", ds)).problem


def test_colour(tmp_path, dcm):
    ds = dcm.make_dataset(dcm.ramp(bits=8), bits_stored=8)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.PixelData = np.repeat(dcm.ramp(bits=8).astype(np.uint8)[..., None], 3, 2).tobytes()
    assert "colour" in _error(dcm.write(tmp_path / "a.dcm", ds)).problem


def test_truncated_native_pixel_data(tmp_path, dcm):
    path = dcm.write(tmp_path / "a.dcm", dcm.make_dataset(dcm.ramp()))
    data = path.read_bytes()
    path.write_bytes(data[:-600])
    assert "truncated pixel data" in _error(path).problem


def test_truncated_compressed_pixel_data(tmp_path, dcm):
    ds = dcm.make_dataset(dcm.ramp())
    ds.compress(JPEG2000Lossless)
    path = dcm.write(tmp_path / "a.dcm", ds)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - len(ds.PixelData) // 2])
    problem = _error(path).problem
    assert "truncated" in problem


def test_unsupported_syntax(tmp_path, dcm):
    ds = dcm.make_dataset(dcm.ramp())
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no decoder anywhere
    ds.PixelData = encapsulate([b"\x00" * 64])
    assert "unsupported transfer syntax" in _error(dcm.write(tmp_path / "a.dcm", ds)).problem


def test_patient_key_needs_a_secret_and_depends_on_it():
    assert patient_key("A", "s1") == patient_key("A", "s1") != patient_key("B", "s1")
    assert patient_key("A", "s1") != patient_key("A", "s2")
    # No public default: without the secret nobody can recompute keys from candidate ids.
    with pytest.raises(TypeError):
        patient_key("A")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        patient_key("A", "")


@pytest.mark.parametrize("orientation, caudal", [
    (["A", "F"], (0.0, 1.0)),  # a lateral film hung head up
    (["P", "H"], (0.0, -1.0)),  # hung upside down
    (["F", "A"], (1.0, 0.0)),  # turned on its side
    (["AF", "FP"], (2 ** -0.5, 2 ** -0.5)),  # oblique: both axes point partly to the feet
    (["A", "P"], None),  # names no head-feet direction
    (None, None),  # absent (many CR/DX writers leave it out)
])
def test_patient_orientation_says_which_way_the_feet_are(tmp_path, dcm, orientation, caudal):
    elements = {"PatientOrientation": orientation} if orientation else {}
    path = dcm.write(tmp_path / "a.dcm", dcm.make_dataset(dcm.ramp(), **elements))
    got = read_radiograph(path).caudal
    assert got == (pytest.approx(caudal) if caudal else None)

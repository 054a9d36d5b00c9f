import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "lumbarseg_test_dicom_factory", Path(__file__).with_name("dicom_factory.py")
)
dicom_factory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dicom_factory)


@pytest.fixture
def dcm():
    """The DICOM factory module (make_dataset, write, ramp)."""
    return dicom_factory

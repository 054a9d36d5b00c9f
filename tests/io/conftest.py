import pytest

from tests.helpers import dicom_factory


@pytest.fixture
def dcm():
    """The DICOM factory module (make_dataset, write, ramp)."""
    return dicom_factory

"""Shared pieces of the postprocess tests: the real BUU-LSPINE cases behind the one data gate."""

from pathlib import Path

import pytest

from tests.helpers import buu_cases as bc
from tests.helpers.shared_data import require_shared_data


@pytest.fixture(scope="session")
def buu_files() -> list[Path]:
    """All real BUU-LSPINE cases (sample + dev); skips, or fails under CI, when either is absent."""
    for folder in (bc.BUU_DIR, bc.BUU_DEV_DIR):
        require_shared_data(folder.name)
    return bc.buu_files("all")

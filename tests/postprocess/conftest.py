"""Shared pieces of the postprocess tests: the case builder on sys.path, the real-data gate."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import buu_cases as bc  # noqa: E402


def require_shared_data(present: bool, what: str) -> None:
    """Skip the calling test when shared real data is missing; fail instead when ``CI`` is set
    (a CI run without ``../shared/data`` must not pass by skipping the labeller suite)."""
    if present:
        return
    reason = f"{what} not found (expected under {bc.SHARED.resolve()})"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so missing shared data fails the run", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def buu_files() -> list[Path]:
    """All real BUU-LSPINE cases (sample + dev); skips or fails (CI) when absent."""
    files = bc.buu_files("all")
    require_shared_data(bool(files), "BUU-LSPINE cases (buu-lspine-sample, buu-lspine-dev)")
    return files

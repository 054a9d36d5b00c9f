"""The real-data samples in ``../shared/data`` (next to the repository, never copied in).

Outside CI a missing sample skips the tests that need it, with the reason. With the ``CI``
environment variable set (to anything but "", "0" or "false"), a missing sample fails them:
a CI run must not pass by skipping the tests on real data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def require_shared_data(name: str, marker: str | None = None) -> Path:
    """``../shared/data/<name>``; skip (fail under CI) when it, or ``marker`` inside it, is
    missing. Call it in a fixture or a test."""
    path = SHARED_DATA / name
    probe = path / marker if marker else path
    if probe.exists():
        return path
    reason = f"shared data sample not present at {probe} (it is not part of the repository)"
    if in_ci():
        pytest.fail(f"{reason}; CI is set, so this fails instead of skipping", pytrace=False)
    pytest.skip(reason)

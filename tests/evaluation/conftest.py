"""Fixtures of the evaluation tests (the builders live in ``tests.helpers.coco``)."""

from __future__ import annotations

import pytest

from tests.helpers.coco import spine_coco


@pytest.fixture
def spine():
    return spine_coco()

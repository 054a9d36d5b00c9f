"""Shared fixtures: a tiny generated spine dataset registered with Detectron2."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from tests.helpers.spine import write_tiny_coco

_counter = itertools.count()


@pytest.fixture(scope="session")
def tiny_coco(tmp_path_factory) -> Path:
    """A 4-image COCO dataset of PNG spines (same images as ``tiny_dataset``)."""
    return write_tiny_coco(tmp_path_factory.mktemp("tiny_spine"), 4, seed=0)


@pytest.fixture(scope="session")
def tiny_dataset(tiny_coco) -> str:
    """``tiny_coco`` registered with Detectron2; returns its DatasetCatalog name."""
    from lumbarseg.data.register import register_lumbarseg_dataset

    name = f"tiny_spine_{next(_counter)}"
    register_lumbarseg_dataset(name, tiny_coco)
    return name


@pytest.fixture(autouse=True, scope="session")
def _limit_threads():
    torch.set_num_threads(2)

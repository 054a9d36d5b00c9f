import cv2
import numpy as np
import pytest

from lumbarseg.levels import LEVELS
from tests.helpers import dicom_factory

WIDTH, HEIGHT = 160, 240


@pytest.fixture
def dcm():
    """The DICOM factory module (make_dataset, write, ramp)."""
    return dicom_factory


def scene_polygons(shift: float = 0.0) -> dict[str, list[float]]:
    """Six stacked, slightly tilted quadrilaterals (L1 top ... S1 bottom) as flat polygons."""
    polygons = {}
    for i, level in enumerate(LEVELS):
        top = 12 + i * 36 + shift
        polygons[level] = [40.0, top, 110.0, top + 4, 108.0, top + 28, 42.0, top + 26]
    return polygons


def write_image(path, seed: int = 0) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)
    assert cv2.imwrite(str(path), pixels)
    return pixels


def rasterize(polygons: list[list[float]], height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    from pycocotools import mask as mask_utils

    rles = mask_utils.frPyObjects(polygons, height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


class Scene:
    width, height = WIDTH, HEIGHT
    polygons = staticmethod(scene_polygons)
    image = staticmethod(write_image)
    mask = staticmethod(rasterize)
    iou = staticmethod(iou)


@pytest.fixture
def scene():
    """Helpers for the small test scene: polygons, image writer, rasterizer, IoU."""
    return Scene

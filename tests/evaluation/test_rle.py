"""The crop-based RLE helpers agree exactly with pycocotools."""

from __future__ import annotations

import numpy as np
import pycocotools.mask as mask_util
import pytest

from lumbarseg.evaluation.label_maps import paint_label_map
from lumbarseg.evaluation.rle import encode_mask, rle_centroid, rle_runs


def _masks(seed: int):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 40, size=2)
    yield np.zeros((h, w), bool)
    yield np.ones((h, w), bool)
    yield rng.random((h, w)) < 0.3  # many runs, some crossing column boundaries
    m = np.zeros((h, w), bool)
    m[: max(1, h // 2), :] = True  # touches the top edge: runs join across columns
    m[-1, :] = True
    yield m


@pytest.mark.parametrize("seed", range(6))
def test_encode_equals_pycocotools(seed):
    for mask in _masks(seed):
        ours = encode_mask(mask)
        ref = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert ours["counts"] == ref["counts"].decode("ascii")
        assert ours["size"] == list(ref["size"])
        np.testing.assert_array_equal(mask_util.decode(ours).astype(bool), mask)


@pytest.mark.parametrize("seed", range(6))
def test_runs_paint_and_centroid_match_decoded_mask(seed):
    for mask in _masks(seed):
        rle = encode_mask(mask)
        starts, ends = rle_runs(rle)
        flat = np.zeros(mask.size, bool)
        for s, e in zip(starts, ends, strict=True):
            flat[s:e] = True
        np.testing.assert_array_equal(flat.reshape(mask.shape, order="F"), mask)
        painted = paint_label_map([rle], [3], [1.0], *mask.shape)
        np.testing.assert_array_equal(painted == 3, mask)
        rows, cols = np.nonzero(mask)
        if rows.size:
            assert rle_centroid(rle) == pytest.approx((rows.mean(), cols.mean()))
        else:
            assert np.isnan(rle_centroid(rle)).all()


def test_runs_of_large_counts():
    mask = np.zeros((3000, 2500), bool)
    mask[1000:1300, 800:1200] = True
    rle = encode_mask(mask)
    assert rle["counts"] == mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))[
        "counts"
    ].decode("ascii")
    starts, ends = rle_runs(rle)
    assert len(starts) == 400 and int((ends - starts).sum()) == 300 * 400

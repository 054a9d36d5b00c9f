"""COCO RLE helpers whose cost follows the mask, not the image.

A vertebra covers a few percent of a 3000 x 2500 radiograph; pycocotools' encode/decode walk
every pixel (and encode needs a Fortran-order copy), which made evaluation cost 0.4-0.8 s per
image. Here masks are encoded from their bounding-box crop and painted/measured from the
runs of the compressed string, so per-mask work is proportional to its columns and area.
Results are byte-identical to pycocotools (tested).
"""

from __future__ import annotations

import numpy as np
import pycocotools.mask as mask_util


def _compress(counts: list[int], height: int, width: int) -> dict:
    rle = mask_util.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def encode_mask(mask: np.ndarray) -> dict:
    """Compressed RLE (str counts) of one HxW binary mask; equal to ``pycocotools.encode``."""
    mask = np.asarray(mask).astype(bool, copy=False)
    height, width = mask.shape
    cols = np.flatnonzero(mask.any(axis=0))
    if cols.size == 0:
        return _compress([height * width], height, width)
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    rows = np.flatnonzero(mask[:, x0:x1].any(axis=1))
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    # transposed crop: row-major order over it is column-major (COCO) order over the image
    crop = np.zeros((x1 - x0, y1 - y0 + 2), np.int8)
    crop[:, 1:-1] = mask[y0:y1, x0:x1].T
    diff = np.diff(crop, axis=1)
    start_c, start_r = np.nonzero(diff == 1)
    end_c, end_r = np.nonzero(diff == -1)
    starts = (x0 + start_c) * height + y0 + start_r
    ends = (x0 + end_c) * height + y0 + end_r
    # a run reaching the bottom of one column continues at the top of the next
    joined = np.flatnonzero(ends[:-1] == starts[1:])
    if joined.size:
        starts = np.delete(starts, joined + 1)
        ends = np.delete(ends, joined)
    bounds = np.empty(2 * starts.size + 2, np.int64)
    bounds[0], bounds[-1] = 0, height * width
    bounds[1:-1:2], bounds[2:-1:2] = starts, ends
    counts = np.diff(bounds).tolist()
    if counts[-1] == 0:  # pycocotools writes no empty trailing run of zeros
        counts.pop()
    return _compress(counts, height, width)


def _counts_from_string(data: bytes) -> np.ndarray:
    """Decode COCO's compressed counts string (vectorised ``rleFrString``).

    Each count is a little-endian group of 5-bit digits (char - 48; bit 0x20 = more digits
    follow, bit 0x10 of the last digit = negative); from the third count on, each is stored
    as the difference to the count two before it.
    """
    c = np.frombuffer(data, np.uint8).astype(np.int64) - 48
    if c.size == 0:
        return np.zeros(0, np.int64)
    last = (c & 0x20) == 0
    group = np.concatenate([[0], np.cumsum(last)[:-1]])
    first = np.flatnonzero(np.concatenate([[True], last[:-1]]))
    shift = 5 * (np.arange(c.size) - first[group])
    values = np.zeros(int(last.sum()), np.int64)
    np.add.at(values, group, (c & 0x1F) << shift)
    negative = last & ((c & 0x10) != 0)
    values[group[negative]] -= np.left_shift(1, shift[negative] + 5)
    # undo the difference coding: two interleaved running sums from indices 1 and 2
    values[1::2] = np.cumsum(values[1::2])
    values[2::2] = np.cumsum(values[2::2])
    return values


def rle_runs(rle: dict) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) flat column-major indices of the mask's runs of ones."""
    counts = rle["counts"]
    if isinstance(counts, list):
        values = np.asarray(counts, np.int64)
    else:
        values = _counts_from_string(counts.encode("ascii") if isinstance(counts, str) else counts)
    bounds = np.cumsum(values)
    return bounds[0::2][: len(values) // 2], bounds[1::2]


def paint_runs(flat: np.ndarray, rle: dict, value: int) -> None:
    """Set ``value`` where the RLE is one, in a flat column-major view of the label map."""
    starts, ends = rle_runs(rle)
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        flat[s:e] = value


def rle_centroid(rle: dict) -> tuple[float, float]:
    """(row, col) centroid of the mask in pixels; NaNs for an empty mask.

    Runs inside one column are summed in closed form; the rare run that wraps into the next
    column (a mask touching the top and bottom image edges) is expanded pixel by pixel.
    """
    height = int(rle["size"][0])
    starts, ends = rle_runs(rle)
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return float("nan"), float("nan")
    col0, col1 = starts // height, (ends - 1) // height
    inside = col0 == col1
    s, n, c = starts[inside], lengths[inside], col0[inside]
    row0 = s - c * height
    row_sum = int((n * (2 * row0 + n - 1)).sum()) // 2
    col_sum = int((n * c).sum())
    for start, end in zip(starts[~inside].tolist(), ends[~inside].tolist(), strict=True):
        index = np.arange(start, end)
        row_sum += int((index % height).sum())
        col_sum += int((index // height).sum())
    return row_sum / total, col_sum / total

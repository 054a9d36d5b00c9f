"""COCO RLE helpers whose cost follows the mask, not the image.

A vertebra covers a few percent of a 3000 x 2500 radiograph; pycocotools' encode/decode walk
every pixel (and encode needs a Fortran-order copy), which made evaluation cost ~0.4 s per
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


def rle_runs(rle: dict) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) flat column-major indices of the mask's runs of ones.

    Parses COCO's compressed counts string (LEB128-like 5-bit groups; from the third count
    on, each is stored as a difference to the count two before it).
    """
    counts = rle["counts"]
    values: list[int] = []
    if isinstance(counts, list):
        values = list(counts)
    else:
        data = counts.encode("ascii") if isinstance(counts, str) else counts
        p, n = 0, len(data)
        while p < n:
            x, k, more = 0, 0, True
            while more:
                c = data[p] - 48
                x |= (c & 0x1F) << (5 * k)
                more = bool(c & 0x20)
                p += 1
                k += 1
                if not more and c & 0x10:
                    x |= -1 << (5 * k)
            if len(values) > 2:
                x += values[-2]
            values.append(x)
    bounds = np.cumsum(np.asarray(values, np.int64))
    return bounds[0::2][: len(values) // 2], bounds[1::2]


def paint_runs(flat: np.ndarray, rle: dict, value: int) -> None:
    """Set ``value`` where the RLE is one, in a flat column-major view of the label map."""
    starts, ends = rle_runs(rle)
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        flat[s:e] = value


def rle_centroid(rle: dict) -> tuple[float, float]:
    """(row, col) centroid of the mask in pixels; NaNs for an empty mask."""
    height = int(rle["size"][0])
    starts, ends = rle_runs(rle)
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return float("nan"), float("nan")
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    index = offsets + np.arange(total)
    return float((index % height).mean()), float((index // height).mean())

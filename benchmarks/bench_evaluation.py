"""Evaluation speed on radiograph-sized images: lumbarseg's RLE path vs the pycocotools way.

Side by side in one run, on synthetic 3000 x 2500 images with six vertebra-sized masks and
thirty small low-score detections per image (Detectron2 returns up to 100):

- encoding predicted masks: ``encode_mask`` vs ``pycocotools.mask.encode`` on a Fortran copy
  (what Detectron2's ``COCOEvaluator`` does);
- painting a label map from RLEs: runs of the compressed string vs ``pycocotools`` decode;
- one image through ``score_image`` (label maps, confusion matrix, matching).

Run: ``.venv/bin/python benchmarks/bench_evaluation.py [--images N]``. Prints ms and ratios.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pycocotools.mask as mask_util

from lumbarseg.evaluation.accumulator import score_image
from lumbarseg.evaluation.label_maps import paint_label_map
from lumbarseg.evaluation.rle import encode_mask
from lumbarseg.evaluation.structures import ImageGroundTruth, predictions_from_masks

H, W = 3000, 2500


def _image(rng: np.random.Generator):
    masks, levels, scores = [], [], []
    for k in range(6):
        m = np.zeros((H, W), bool)
        y = 600 + 330 * k + int(rng.integers(-10, 10))
        m[y : y + 280, 900 : 1300 + int(rng.integers(0, 40))] = True
        masks.append(m)
        levels.append(k)
        scores.append(float(rng.uniform(0.6, 1.0)))
    for _ in range(30):
        m = np.zeros((H, W), bool)
        y, x = rng.integers(0, H - 200), rng.integers(0, W - 200)
        m[y : y + 120, x : x + 150] = True
        masks.append(m)
        levels.append(int(rng.integers(0, 6)))
        scores.append(float(rng.uniform(0.05, 0.45)))
    return masks, levels, scores


def _paint_decoded(rles, labels, order):
    out = np.zeros((H, W), np.uint8)
    for i in np.argsort(order, kind="stable"):
        out[mask_util.decode(rles[i]).astype(bool)] = labels[i]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    t_ref = t_ours = t_dec = t_runs = t_score = 0.0
    n_masks = 0
    for _ in range(args.images):
        masks, levels, scores = _image(rng)
        n_masks += len(masks)
        t = time.perf_counter()
        ref = [
            mask_util.encode(np.array(m[:, :, None], order="F", dtype=np.uint8))[0] for m in masks
        ]
        t_ref += time.perf_counter() - t
        t = time.perf_counter()
        ours = [encode_mask(m) for m in masks]
        t_ours += time.perf_counter() - t
        assert all(a["counts"].decode() == b["counts"] for a, b in zip(ref, ours, strict=True))

        labels = [lv + 1 for lv in levels]
        t = time.perf_counter()
        a = _paint_decoded(ours[:6], labels[:6], scores[:6])
        t_dec += time.perf_counter() - t
        t = time.perf_counter()
        b = paint_label_map(ours[:6], labels[:6], scores[:6], H, W)
        t_runs += time.perf_counter() - t
        assert np.array_equal(a, b)

        pred = predictions_from_masks(masks, levels, scores)
        gt = ImageGroundTruth(
            1, H, W, np.arange(6), ours[:6], np.zeros((6, 4)), np.zeros(6, bool), (0.15, 0.15)
        )
        t = time.perf_counter()
        score_image(gt, pred)
        t_score += time.perf_counter() - t
    n = args.images
    print(f"{n} images {W}x{H}, {n_masks} masks")
    print(
        f"encode per mask: pycocotools {t_ref / n_masks * 1e3:.2f} ms, "
        f"lumbarseg {t_ours / n_masks * 1e3:.2f} ms, ratio {t_ref / t_ours:.1f}x"
    )
    print(
        f"paint label map (6 masks): decode {t_dec / n * 1e3:.1f} ms, "
        f"runs {t_runs / n * 1e3:.1f} ms, "
        f"ratio {t_dec / t_runs:.1f}x"
    )
    print(f"score_image (36 detections, 6 kept): {t_score / n * 1e3:.1f} ms/image")


if __name__ == "__main__":
    main()

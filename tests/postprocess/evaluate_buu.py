"""Level accuracy of the labeller on the 20 real BUU-LSPINE cases under controlled corruption.

Run: ``.venv/bin/python tests/postprocess/evaluate_buu.py`` (prints a table; no assertions:
the tests assert, this reports). Each corruption is scored with detector class scores
(noisy but mostly right) and without (single-class detector: anatomy only).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import buu_cases as bc  # noqa: E402

from lumbarseg.postprocess import label_vertebrae  # noqa: E402

SCENARIOS = {
    "clean": lambda c, r: c,
    **bc.CORRUPTIONS,
    "mirrored, rot +-15": lambda c, r: bc.transform(c, float(r.choice([-15, 15])), True),
    "wrong scores L3": lambda c, r: bc.wrong_scores(c),
    "six lumbar (T12 as L1)": lambda c, r: bc.six_lumbar(c, "top"),
    "six lumbar (L6)": lambda c, r: bc.six_lumbar(c, "L6"),
}


def run(files, with_scores: bool, seed: int = 0, use_masks: bool = False):
    rows = {}
    times = []
    for name, corrupt in SCENARIOS.items():
        if name.startswith("wrong") and not with_scores:
            continue
        rng = np.random.default_rng(seed)
        inst = tot = imgs = 0
        flags = 0
        for f in files:
            case = bc.load_case(f)
            if with_scores:
                bc.with_class_scores(case, rng)
            case = corrupt(case, rng)
            cands = bc.candidates(case, use_masks)
            t0 = time.perf_counter()
            res = label_vertebrae(cands, image_shape=case.size)
            times.append(time.perf_counter() - t0)
            c, t, ok = bc.accuracy(case, res)
            inst, tot, imgs = inst + c, tot + t, imgs + ok
            flags += bool(res.flags["transitional_suspected"])
        rows[name] = (inst / tot, imgs / len(files), flags)
    return rows, times


def main() -> None:
    files = bc.buu_files()
    if not files:
        print(f"no BUU cases in {bc.BUU_DIR}")
        return
    for with_scores in (True, False):
        rows, times = run(files, with_scores)
        title = "with class scores" if with_scores else "anatomy only (no class scores)"
        print(f"\n== {title}: {len(files)} real BUU cases, "
              f"median {1000 * np.median(times):.1f} ms/image (polygons)")
        print(f"{'scenario':40s} {'per-instance':>12s} {'per-image':>10s} {'transit.flag':>12s}")
        for name, (a, b, fl) in rows.items():
            print(f"{name:40s} {a:12.3f} {b:10.3f} {fl:12d}")
    errors = []
    for f in files:
        for mirror in (False, True):
            case = bc.transform(bc.load_case(f), 0.0, mirror)
            res = label_vertebrae(bc.candidates(case), image_shape=case.size)
            measured = res.measurements.get("lordosis_deg")
            if measured is not None:
                errors.append(measured - bc.lordosis_truth(case))
    errors = np.abs(errors)
    print(f"\nlordosis L1-S1 vs annotated endplate lines ({len(errors)} films incl. mirrored): "
          f"mean abs error {errors.mean():.2f} deg, max {errors.max():.2f} deg")


if __name__ == "__main__":
    main()

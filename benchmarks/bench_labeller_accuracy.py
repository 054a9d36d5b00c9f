"""Labelling suite on every real BUU-LSPINE case (sample + dev): scenario x mode table.

Run: ``.venv/bin/python benchmarks/bench_labeller_accuracy.py [--split all|dev|sample]
[--masks]``. Each of the 25 scenarios (``tests/helpers/buu_cases.SCENARIOS``) is run on
every case once with level class scores (noisy but mostly right) and once class-agnostic (a
single "vertebra" category: anatomy only). Columns: level accuracy over true bodies, images
with every level right and no junk labelled, silent errors (wrong images with
neither ``low_confidence`` nor ``transitional_suspected``, over all images), images flagged
``low_confidence``, and the median labelling time. Prints
Markdown; no assertions (``tests/postprocess/test_labeller_buu.py`` asserts on a subset).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: tests.helpers
from lumbarseg.postprocess import label_vertebrae  # noqa: E402
from tests.helpers import buu_cases as bc  # noqa: E402

MODES = {"scores": True, "agnostic": False}
SIXTH_LUMBAR = "sixth lumbar (L6)"


def run(files, scenario: str, with_scores: bool, use_masks: bool) -> tuple[Counter, list]:
    tally: Counter = Counter()
    times = []
    for f in files:
        case = bc.scenario_case(f, scenario, with_scores)
        cands = bc.candidates(case, use_masks)
        t0 = time.perf_counter()
        res = label_vertebrae(cands, image_shape=case.size)
        times.append(time.perf_counter() - t0)
        tally.update({k: int(v) for k, v in bc.judge(case, res).items()})
        tally["images"] += 1
    return tally, times


def _cells(t: Counter, times: list) -> str:
    return (f"{100 * t['right'] / max(t['total'], 1):6.2f} | {100 * t['ok'] / t['images']:6.1f} | "
            f"{t['silent']:3d} | {t['flagged']:3d} | {1000 * np.median(times):5.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="all", choices=["all", "dev", "sample"])
    parser.add_argument("--masks", action="store_true", help="full-resolution masks, not polygons")
    args = parser.parse_args()
    files = bc.buu_files(args.split)
    if not files:
        print(f"no BUU cases under {bc.SHARED}")
        return
    totals = {m: Counter() for m in MODES}
    # The sixth lumbar body stays flagged without class scores (see the README): the totals
    # are printed with and without that scenario.
    without_l6 = {m: Counter() for m in MODES}
    all_times = {m: [] for m in MODES}
    print(f"{len(files)} real BUU-LSPINE cases ({args.split}), "
          f"{'masks' if args.masks else 'polygons'}\n")
    head = "level acc % | images right % | silent | flagged | ms/image"
    print(f"| scenario | scores: {head} | agnostic: {head} |")
    print("|---|" + "---|" * 10)
    for scenario in bc.SCENARIOS:
        row = []
        for mode, with_scores in MODES.items():
            if scenario in bc.SCORES_ONLY and not with_scores:
                row.append("n/a (no scores) | | | |")
                continue
            tally, times = run(files, scenario, with_scores, args.masks)
            totals[mode].update(tally)
            if scenario != SIXTH_LUMBAR:
                without_l6[mode].update(tally)
            all_times[mode] += times
            row.append(_cells(tally, times))
        print(f"| {scenario} | " + " | ".join(row) + " |")
    print("| **all** | " + " | ".join(_cells(totals[m], all_times[m]) for m in MODES) + " |")
    for mode in MODES:
        for label, t in ((mode, totals[mode]), (f"{mode} without the L6 scenario",
                                                  without_l6[mode])):
            acc = 100 * t["right"] / t["total"]
            print(f"\n{label}: {t['images']} images, level accuracy {acc:.2f} %, images right "
                  f"{100 * t['ok'] / t['images']:.2f} %, silent errors {t['silent']} "
                  f"({100 * t['silent'] / t['images']:.2f} %), flagged {t['flagged']}")


if __name__ == "__main__":
    main()

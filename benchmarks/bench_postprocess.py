"""Labeller time per image: 8 mask candidates (6 bodies + 2 implants) on a 1024-px film.

Real BUU-LSPINE geometry scaled to 1024 px (read from ../shared/data when present, else a
synthetic column). Prints the median time of ``label_vertebrae`` with and without the image
(metal test) side by side, against the 50 ms budget.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: tests.helpers
from lumbarseg.postprocess import label_vertebrae  # noqa: E402
from tests.helpers import buu_cases as bc  # noqa: E402


def main() -> None:
    files = bc.buu_files()
    if not files:
        print("BUU sample not found; nothing to time")
        return
    rng = np.random.default_rng(0)
    times = {"masks": [], "masks+image": []}
    for f in files[:10]:
        case = bc.load_case(f)
        scale = 1024 / max(case.size)
        for b in case.bodies:
            b.corners = b.corners * scale
        case.size = (int(case.size[0] * scale), int(case.size[1] * scale))
        case = bc.add_implants(case, rng)
        case.bodies = case.bodies[:6] + case.bodies[6:8]  # two screws: 8 candidates
        cands = bc.candidates(case, use_masks=True)
        image = rng.random(case.size).astype(np.float32)
        for name, img in (("masks", None), ("masks+image", image)):
            t0 = time.perf_counter()
            label_vertebrae(cands, image=img)
            times[name].append(time.perf_counter() - t0)
    for name, t in times.items():
        ms = 1000 * float(np.median(t))
        print(f"{name:12s} median {ms:6.1f} ms/image  ({ms / 50:.2f} x the 50 ms budget)")


if __name__ == "__main__":
    main()

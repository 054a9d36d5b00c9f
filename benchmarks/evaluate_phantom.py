"""Labeller accuracy and measurement errors on phantom ground truth (post-op films included).

Run: ``.venv/bin/python benchmarks/evaluate_phantom.py [N]`` (prints one line per mode, then
anatomy-only lines with one body missed, the film's sacrum evidence off and on; no
assertions: ``tests/postprocess/test_labeller_phantom.py`` asserts on the same cases).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: tests.helpers
from tests.helpers.phantom_cases import evaluate, evaluate_missing  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    for with_scores in (True, False):
        r = evaluate(n, with_scores)
        le, se = r["lordosis_abs_err"], r["listhesis_abs_err"]
        print(f"{'class scores' if with_scores else 'anatomy only'}: {n} phantoms "
              f"({r['postop']} post-op), level accuracy per instance {r['instances']:.3f}, "
              f"per image {r['images']:.3f}; lordosis |err| mean {le.mean():.2f} "
              f"max {le.max():.2f} deg (n={len(le)}); listhesis |err| mean "
              f"{se.mean() if len(se) else float('nan'):.2f} max "
              f"{se.max() if len(se) else float('nan'):.2f} % (n={len(se)}); "
              f"median {r['ms']:.1f} ms/image")
    # Anatomy only with one body missed: the film's sacrum evidence on (weight 1) and off (0).
    for drop in ("S1", "L1", "L5"):
        cells = []
        for weight in (0.0, 1.0):
            m = evaluate_missing(n, drop, weight)
            cells.append(f"film evidence {'on' if weight else 'off'}: {m['right']}/{m['images']}"
                         f" images right, {m['silent']} silent")
        print(f"anatomy only, {drop} missed: " + "; ".join(cells))


if __name__ == "__main__":
    main()

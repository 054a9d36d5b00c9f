"""``lumbarseg phantom``: write a synthetic lateral lumbar radiograph dataset (DICOM + COCO)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from lumbarseg.phantom.config import DIFFICULTIES
from lumbarseg.phantom.styles import STYLE_FAMILIES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (dicom/, annotations.json)")
    parser.add_argument("--n", type=int, default=50, help="number of images (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--size", type=int, default=512, help="image height in px (128-2048)")
    parser.add_argument("--difficulty", choices=sorted(DIFFICULTIES), default="normal",
                        help="how often pathology, implants, field-of-view cuts and noise "
                        "appear (default normal)")
    parser.add_argument("--postop-share", type=float, default=0.3,
                        help="share of postoperative images with implants (default 0.3)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes (output is identical for any number)")
    parser.add_argument("--styles", nargs="+", choices=list(STYLE_FAMILIES),
                        default=list(STYLE_FAMILIES),
                        help="imaging-style families to draw from (default: all)")
    parser.add_argument("--preview", action="store_true", help="also write preview.png")


@contextlib.contextmanager
def _progress(out: str, n: int, interval: float = 0.5) -> Iterator[None]:
    """A tqdm bar on a terminal's stderr, counting the DICOM files written since the start
    (the generator's worker processes report nothing back until they all finish)."""
    if not sys.stderr.isatty():
        yield
        return
    from tqdm import tqdm

    start, stop = time.time() - 1.0, threading.Event()
    folder = Path(out) / "dicom"

    def written() -> int:
        files = folder.rglob("*.dcm") if folder.is_dir() else ()
        return sum(1 for p in files if p.stat().st_mtime >= start)

    with tqdm(total=n, desc="phantom", unit="img", file=sys.stderr, dynamic_ncols=True) as bar:
        def watch() -> None:
            while not stop.wait(interval):
                bar.update(min(n, written()) - bar.n)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()
            bar.update(min(n, written()) - bar.n)


def run(args: argparse.Namespace) -> int:
    from lumbarseg.phantom import PhantomConfig, generate_dataset

    config = PhantomConfig(size=args.size, difficulty=args.difficulty,
                           postop_share=args.postop_share, styles=tuple(args.styles))
    start = time.perf_counter()
    with _progress(args.out, args.n):
        path = generate_dataset(args.out, args.n, args.seed, workers=args.workers,
                                preview=args.preview, config=config)
    elapsed = time.perf_counter() - start
    print(f"wrote {args.n} phantoms to {path.parent} ({path.name}) in {elapsed:.1f} s")
    if args.preview:
        print(f"preview: {path.parent / 'preview.png'}")
    return 0

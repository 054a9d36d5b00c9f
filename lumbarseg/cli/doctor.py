"""``lumbarseg doctor``: what a bug report needs; non-zero exit when a requirement is missing."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import platform
import sys
from collections.abc import Callable

from lumbarseg.errors import one_line

REQUIRED = (
    "torch", "torchvision", "detectron2", "cv2", "pycocotools", "pydicom", "numpy", "shapely",
)
OPTIONAL = ("highdicom",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON, not a table")


def _dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _torch() -> dict[str, str]:
    import torch

    info = {"torch": torch.__version__, "CUDA available": str(torch.cuda.is_available())}
    if torch.cuda.is_available():
        info["CUDA"] = str(torch.version.cuda)
        info["GPU count"] = str(torch.cuda.device_count())
        info["GPU 0"] = torch.cuda.get_device_name(0)
    info["CPU threads"] = str(torch.get_num_threads())
    return info


def _detectron2() -> dict[str, str]:
    import detectron2

    if _dist_version("sal-detectron2"):
        dist = "sal-detectron2 (repacked pure-Python wheel)"
    elif _dist_version("detectron2"):
        dist = "detectron2 (source build)"
    else:
        dist = "unknown distribution"
    try:
        from detectron2 import _C  # noqa: F401

        compiled = "yes"
    except ImportError:
        compiled = "no (rotated boxes, deformable conv and fast COCOeval unavailable; not needed)"
    return {
        "detectron2": f"{detectron2.__version__} from {dist}",
        "detectron2 path": detectron2.__path__[0],
        "detectron2._C compiled": compiled,
    }


def _pydicom() -> dict[str, str]:
    import pydicom
    from pydicom.pixels import get_decoder
    from pydicom.uid import (
        JPEG2000,
        DeflatedExplicitVRLittleEndian,
        JPEG2000Lossless,
        JPEGBaseline8Bit,
        JPEGExtended12Bit,
        JPEGLosslessSV1,
        JPEGLSLossless,
        JPEGLSNearLossless,
        RLELossless,
    )

    syntaxes = {
        "RLE Lossless": RLELossless,
        "Deflate": DeflatedExplicitVRLittleEndian,
        "JPEG Baseline": JPEGBaseline8Bit,
        "JPEG Extended 12-bit": JPEGExtended12Bit,
        "JPEG Lossless SV1": JPEGLosslessSV1,
        "JPEG-LS Lossless": JPEGLSLossless,
        "JPEG-LS Near-lossless": JPEGLSNearLossless,
        "JPEG 2000 Lossless": JPEG2000Lossless,
        "JPEG 2000": JPEG2000,
    }
    info = {"pydicom": pydicom.__version__}
    for label, uid in syntaxes.items():
        try:
            plugins = get_decoder(uid).available_plugins
        except (NotImplementedError, ValueError):
            plugins = ()
        if uid == DeflatedExplicitVRLittleEndian:
            plugins = ("pydicom (inflates the whole dataset on read)",)
        info[f"decode {label}"] = ", ".join(plugins) if plugins else "NO"
    return info


def _simple(module: str, label: str | None = None) -> Callable[[], dict[str, str]]:
    def probe() -> dict[str, str]:
        mod = importlib.import_module(module)
        return {label or module: getattr(mod, "__version__", _dist_version(module) or "?")}

    return probe


PROBES: dict[str, Callable[[], dict[str, str]]] = {
    "torch": _torch,
    "torchvision": _simple("torchvision"),
    "detectron2": _detectron2,
    "cv2": _simple("cv2", "OpenCV"),
    "pycocotools": lambda: {"pycocotools": _dist_version("pycocotools") or "?"},
    "pydicom": _pydicom,
    "numpy": _simple("numpy"),
    "shapely": _simple("shapely"),
    "highdicom": _simple("highdicom"),
}


def collect() -> tuple[dict[str, str], list[str]]:
    """Return (facts, missing required modules)."""
    from lumbarseg import __version__

    facts = {
        "lumbarseg": __version__,
        "Python": f"{sys.version.split()[0]} ({sys.executable})",
        "platform": platform.platform(),
    }
    missing = []
    for name, probe in PROBES.items():
        try:
            facts.update(probe())
        except Exception as exc:  # doctor reports every failure instead of stopping at one
            status = "MISSING" if name in REQUIRED else "not installed"
            facts[name] = f"{status}: {one_line(exc, with_type=True)}"
            if name in REQUIRED:
                missing.append(name)
    return facts, missing


def run(args: argparse.Namespace) -> int:
    facts, missing = collect()
    if args.json:
        import json

        print(json.dumps({"facts": facts, "missing": missing}, indent=2))
    else:
        width = max(map(len, facts))
        for key, value in facts.items():
            print(f"{key:<{width}}  {value}")
    if missing:
        print(f"lumbarseg doctor: required packages missing: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0

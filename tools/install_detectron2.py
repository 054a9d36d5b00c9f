#!/usr/bin/env python
"""Install Detectron2 into the current Python environment.

Detectron2 has no official PyPI release and GitHub may be unreachable, so the default
source is the ``sal-detectron2==0.7.2`` wheel from PyPI (upstream ``main`` at commit
a59f0563). It is built for CPython 3.10 and carries a compiled ``_C`` extension that
cannot load elsewhere plus a top-level ``tools`` package that would shadow ours, so it
is checked against a pinned sha256 and repacked as a pure-Python wheel before pip
installs it (``pip show``/``pip uninstall`` keep working). Mask R-CNN and PointRend
use torchvision's ROIAlign/NMS and do not need ``_C``.

Users with network access who want the compiled ops choose the upstream source:
``LUMBARSEG_DETECTRON2=source`` (or ``--source upstream``) builds the same pinned
commit from GitHub. ``--source PATH`` installs a local wheel or source checkout.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WHEEL_DIST = "sal-detectron2"
WHEEL_VERSION = "0.7.2"
WHEEL_SHA256 = "491af0c7f79bdb2d178e46f6cb16a97c4ac968d45c41ea3f6b6435d59bbee561"
UPSTREAM_COMMIT = "a59f0563"
UPSTREAM_URL = f"git+https://github.com/facebookresearch/detectron2.git@{UPSTREAM_COMMIT}"
# Requirement fixes applied to the repacked metadata: numpy 2 works (measured), and the
# original wheel forgot fvcore/iopath, which `import detectron2` needs.
METADATA_REWRITES = {
    "Requires-Dist: numpy<2": (
        "Requires-Dist: numpy\nRequires-Dist: fvcore>=0.1.5\nRequires-Dist: iopath>=0.1.7"
    )
}


class InstallError(RuntimeError):
    """A failure the user can act on; printed as one line."""


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    if subprocess.run(cmd).returncode != 0:
        raise InstallError(f"command failed: {' '.join(cmd)}")


def installed_detectron2() -> str | None:
    """Return '<dist>==<version>' of the installed detectron2 distribution, if any."""
    for dist in (WHEEL_DIST, "detectron2"):
        try:
            return f"{dist}=={importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_wheel(dest: Path) -> Path:
    _pip(
        "download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version", "3.10",
        "--dest", str(dest), f"{WHEEL_DIST}=={WHEEL_VERSION}",
    )
    wheels = sorted(dest.glob("sal_detectron2-*.whl"))
    if not wheels:
        raise InstallError(f"download of {WHEEL_DIST}=={WHEEL_VERSION} produced no wheel")
    return wheels[0]


def repack_pure_python(wheel: Path, workdir: Path) -> Path:
    """Drop the unusable extension and the stray ``tools`` package; retag as py3-none-any."""
    unpacked = workdir / "unpacked"
    subprocess.run(
        [sys.executable, "-m", "wheel", "unpack", "--dest", str(unpacked), str(wheel)], check=True
    )
    (root,) = unpacked.iterdir()
    for so in (root / "detectron2").glob("_C*.so"):
        so.unlink()
    shutil.rmtree(root / "tools", ignore_errors=True)
    (dist_info,) = root.glob("*.dist-info")
    wheel_meta = dist_info / "WHEEL"
    headers = [
        line
        for line in wheel_meta.read_text().splitlines()
        if line.strip() and not line.startswith("Tag:")
    ]
    text = "\n".join(headers).replace("Root-Is-Purelib: false", "Root-Is-Purelib: true")
    wheel_meta.write_text(text + "\nTag: py3-none-any\n")
    (dist_info / "top_level.txt").write_text("detectron2\n")
    metadata = dist_info / "METADATA"
    meta_text = metadata.read_text()
    for old, new in METADATA_REWRITES.items():
        meta_text = meta_text.replace(old, new)
    metadata.write_text(meta_text)
    (dist_info / "RECORD").unlink()
    out = workdir / "repacked"
    out.mkdir()
    subprocess.run(
        [sys.executable, "-m", "wheel", "pack", "--dest-dir", str(out), str(root)], check=True
    )
    (repacked,) = out.glob("*.whl")
    return repacked


def install_from_pypi_wheel(local_wheel: Path | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="lumbarseg-d2-") as tmp:
        workdir = Path(tmp)
        wheel = local_wheel or download_wheel(workdir)
        actual = sha256_of(wheel)
        if actual != WHEEL_SHA256:
            raise InstallError(
                f"{wheel.name}: sha256 {actual} does not match the pinned {WHEEL_SHA256}; "
                "refusing to install it"
            )
        repacked = repack_pure_python(wheel, workdir)
        _pip("install", "--quiet", str(repacked))


def install_from_source(spec: str) -> None:
    # Detectron2's setup.py imports torch, so it must build against the installed torch.
    _pip("install", "--no-build-isolation", spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source",
        default=os.environ.get("LUMBARSEG_DETECTRON2", "pypi"),
        help="'pypi' (default: repacked sal-detectron2 wheel), 'upstream' or 'source' "
        f"(GitHub, commit {UPSTREAM_COMMIT}, compiled ops), or a path to a wheel/checkout",
    )
    parser.add_argument("--force", action="store_true", help="reinstall even if present")
    args = parser.parse_args(argv)

    present = installed_detectron2()
    if present and not args.force:
        print(f"detectron2 already installed ({present}); use --force to reinstall")
        return 0
    try:
        if args.source == "pypi":
            install_from_pypi_wheel()
        elif args.source in ("upstream", "source"):
            install_from_source(UPSTREAM_URL)
        elif Path(args.source).suffix == ".whl" and Path(args.source).name.startswith("sal_"):
            install_from_pypi_wheel(Path(args.source))
        elif Path(args.source).exists():
            install_from_source(str(Path(args.source).resolve()))
        else:
            raise InstallError(f"unknown detectron2 source {args.source!r}")
    except (InstallError, subprocess.CalledProcessError) as exc:
        print(f"install_detectron2: error: {exc}", file=sys.stderr)
        return 1
    print(f"installed {installed_detectron2()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Model bundles (``.lsm``): one zip file that is everything inference needs.

Layout (format version 1, documented in the README)::

    manifest.json   format, format_version, lumbarseg_version, created, class_names,
                    labeller settings, training_data summary, evaluation results,
                    files {name: sha256}, checksum (sha256 of the rest of the manifest)
    config.yaml     the Detectron2 config (no dataset names, no weights path)
    weights.pt      the model's state_dict: tensors only, read with ``weights_only=True``
    model.onnx      optional: the network exported for ONNX Runtime (see ``export.py``)

Reading never unpickles arbitrary objects: the weights are loaded with PyTorch's
weights-only unpickler and everything else is JSON, YAML or protobuf. Every member is checked
against its sha256 before use, so a truncated or edited bundle fails with one line.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lumbarseg.errors import InputFileError, one_line
from lumbarseg.io.atomic import write_bytes_atomic

FORMAT = "lumbarseg-model"
FORMAT_VERSION = 1
SUFFIX = ".lsm"
CONFIG, WEIGHTS, ONNX, MANIFEST = "config.yaml", "weights.pt", "model.onnx", "manifest.json"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest_checksum(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return _sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def labeller_settings(use_postprocess: bool = True) -> dict[str, Any]:
    """What the labeller was set to when the bundle was made (recorded, and compared at load)."""
    from lumbarseg.postprocess.config import LabellerConfig

    return {"use_postprocess": use_postprocess, "config": asdict(LabellerConfig())}


@dataclass
class Bundle:
    """A read (and verified) bundle: bytes of its members plus the manifest."""

    path: Path
    manifest: dict[str, Any]
    members: dict[str, bytes] = field(repr=False)

    @property
    def config_text(self) -> str:
        return self.members[CONFIG].decode("utf-8")

    @property
    def onnx(self) -> bytes | None:
        return self.members.get(ONNX)

    def state_dict(self) -> dict[str, Any]:
        """The weights, through the weights-only unpickler (tensors and containers only)."""
        import pickle

        import torch

        try:
            return torch.load(io.BytesIO(self.members[WEIGHTS]), map_location="cpu",
                              weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
            problem = f"weights are not a plain tensor file: {one_line(exc)}"
            raise InputFileError(self.path, problem) from None

    def load_config(self, opts: list[str] | None = None):
        """The bundle's Detectron2 config, with ``KEY VALUE`` overrides applied."""
        import tempfile

        from lumbarseg.config import load_config

        with tempfile.TemporaryDirectory(prefix="lsm_") as tmp:
            path = Path(tmp) / CONFIG
            path.write_text(self.config_text, encoding="utf-8")
            try:
                return load_config(path, opts)
            except InputFileError as exc:
                raise InputFileError(self.path, f"{CONFIG}: {exc.problem}") from None


def is_bundle(path: str | Path | None) -> bool:
    """A ``.lsm`` path (the file may not exist yet: reading reports that)."""
    return bool(path) and str(path).endswith(SUFFIX)


def write_bundle(out: str | Path, config_text: str, state_dict: dict[str, Any], *,
                 onnx: bytes | None = None, training_data: Any = None, evaluation: Any = None,
                 labeller: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the bundle atomically; return its manifest."""
    import torch

    from lumbarseg import __version__
    from lumbarseg.levels import LEVELS

    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in state_dict.items()}, buffer)
    members = {CONFIG: config_text.encode("utf-8"), WEIGHTS: buffer.getvalue()}
    if onnx is not None:
        members[ONNX] = onnx
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "lumbarseg_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "class_names": list(LEVELS),
        "labeller": labeller if labeller is not None else labeller_settings(),
        "training_data": training_data,
        "evaluation": evaluation,
        "files": {name: _sha256(data) for name, data in members.items()},
    }
    manifest["checksum"] = _manifest_checksum(manifest)
    archive = io.BytesIO()
    # Weights barely compress; storing them keeps reading a plain copy.
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest, indent=2))
        for name, data in members.items():
            zf.writestr(name, data)
    write_bytes_atomic(Path(out), archive.getvalue())
    return manifest


def _read_manifest(path: Path, zf: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest = json.loads(zf.read(MANIFEST))
    except KeyError:
        raise InputFileError(path, f"not a lumbarseg model bundle (no {MANIFEST})") from None
    except (ValueError, UnicodeDecodeError):
        raise InputFileError(path, f"{MANIFEST} is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputFileError(path, f"not a lumbarseg model bundle (format is not {FORMAT!r})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise InputFileError(path, f"invalid bundle format_version {version!r}")
    if version > FORMAT_VERSION:
        raise InputFileError(path, f"bundle format version {version} is newer than this "
                             f"lumbarseg reads ({FORMAT_VERSION}); upgrade lumbarseg")
    if manifest.get("checksum") != _manifest_checksum(manifest):
        raise InputFileError(path, "checksum mismatch in manifest.json: the bundle was modified "
                             "or is corrupt")
    return manifest


def read_bundle(path: str | Path) -> Bundle:
    """Open and verify a bundle; any problem is one ``InputFileError`` line."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "model bundle not found")
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = _read_manifest(path, zf)
            files = manifest.get("files") or {}
            if CONFIG not in files or WEIGHTS not in files:
                raise InputFileError(path, f"bundle lacks {CONFIG} or {WEIGHTS}")
            members = {}
            for name, digest in files.items():
                try:
                    data = zf.read(name)
                except KeyError:
                    raise InputFileError(path, f"bundle member {name} is missing") from None
                if _sha256(data) != digest:
                    raise InputFileError(path, f"checksum mismatch for {name}: the bundle was "
                                         "modified or is corrupt")
                members[name] = data
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
        raise InputFileError(path, f"not a readable zip file ({exc})") from None
    return Bundle(path=path, manifest=manifest, members=members)

"""Bundles: round trip, checksums, format versions, weights-only loading, one-line errors."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch

from lumbarseg.cli import main
from lumbarseg.deploy import FORMAT_VERSION, read_bundle, write_bundle
from lumbarseg.deploy.bundle import _manifest_checksum
from lumbarseg.errors import InputFileError

CONFIG_TEXT = "MODEL:\n  META_ARCHITECTURE: GeneralizedRCNN\n"


def _small(tmp_path: Path, **kwargs) -> Path:
    path = tmp_path / "small.lsm"
    write_bundle(path, CONFIG_TEXT, {"w": torch.arange(6.0).reshape(2, 3)}, onnx=b"graph",
                 training_data={"images": 3}, evaluation={"segm/AP": 50.0}, **kwargs)
    return path


def _rewrite(src: Path, dst: Path, members: dict[str, bytes], manifest_edit=None,
             resign: bool = False) -> Path:
    """Copy a bundle, replacing members and editing the manifest (re-signed if asked)."""
    with zipfile.ZipFile(src) as zf:
        contents = {n: zf.read(n) for n in zf.namelist()}
    contents.update(members)
    manifest = json.loads(contents["manifest.json"])
    if manifest_edit:
        manifest_edit(manifest)
    if resign:
        manifest["files"] = {n: __import__("hashlib").sha256(d).hexdigest()
                             for n, d in contents.items() if n != "manifest.json"}
        manifest["checksum"] = _manifest_checksum(manifest)
    contents["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in contents.items():
            zf.writestr(name, data)
    return dst


def test_round_trip(tmp_path):
    bundle = read_bundle(_small(tmp_path))
    manifest = bundle.manifest
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["class_names"] == ["L1", "L2", "L3", "L4", "L5", "S1"]
    assert manifest["training_data"] == {"images": 3}
    assert manifest["evaluation"] == {"segm/AP": 50.0}
    assert manifest["labeller"]["use_postprocess"] is True
    assert "gap_penalty" in manifest["labeller"]["config"]
    assert manifest["lumbarseg_version"]
    assert bundle.config_text == CONFIG_TEXT and bundle.onnx == b"graph"
    assert torch.equal(bundle.state_dict()["w"], torch.arange(6.0).reshape(2, 3))


def test_modified_member_fails_checksum(tmp_path):
    src = _small(tmp_path)
    buffer = __import__("io").BytesIO()
    torch.save({"w": torch.zeros(2, 3)}, buffer)
    bad = _rewrite(src, tmp_path / "bad.lsm", {"weights.pt": buffer.getvalue()})
    with pytest.raises(InputFileError, match="checksum mismatch for weights.pt"):
        read_bundle(bad)


def test_modified_manifest_fails_checksum(tmp_path):
    bad = _rewrite(_small(tmp_path), tmp_path / "bad.lsm", {},
                   manifest_edit=lambda m: m["evaluation"].update({"segm/AP": 99.0}))
    with pytest.raises(InputFileError, match="checksum mismatch in manifest.json"):
        read_bundle(bad)


def test_newer_format_version_is_refused(tmp_path):
    newer = _rewrite(_small(tmp_path), tmp_path / "newer.lsm", {}, resign=True,
                     manifest_edit=lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(InputFileError, match="newer than this lumbarseg reads"):
        read_bundle(newer)


class _Payload:
    """Unpickling this would run code: a weights-only loader must refuse it."""

    ran = False

    def __reduce__(self):
        return (_mark_ran, ())


def _mark_ran():
    _Payload.ran = True
    return {}


def test_weights_are_loaded_weights_only(tmp_path):
    import pickle

    evil = _rewrite(_small(tmp_path), tmp_path / "evil.lsm",
                    {"weights.pt": pickle.dumps(_Payload())}, resign=True)
    bundle = read_bundle(evil)  # checksums are right: the content is what is refused
    with pytest.raises(InputFileError, match="not a plain tensor file"):
        bundle.state_dict()
    assert not _Payload.ran


@pytest.mark.parametrize("case", ["corrupt", "newer", "not_zip", "missing"])
def test_infer_reports_bad_bundle_in_one_line(tmp_path, capsys, case):
    src = _small(tmp_path)
    path = tmp_path / f"{case}.lsm"
    if case == "corrupt":
        _rewrite(src, path, {"config.yaml": b"MODEL: {}\n"})
    elif case == "newer":
        _rewrite(src, path, {}, resign=True, manifest_edit=lambda m: m.update(format_version=9))
    elif case == "not_zip":
        path.write_bytes(b"not a zip")
    (tmp_path / "in").mkdir()
    status = main(["infer", "--model", str(path), "--input", str(tmp_path / "in"),
                   "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and str(path) in err[0] and "Traceback" not in err[0]


def test_infer_needs_a_model(tmp_path, capsys):
    status = main(["infer", "--input", str(tmp_path), "--out", str(tmp_path / "o"), "--quiet"])
    assert status == 2 and "--model" in capsys.readouterr().err

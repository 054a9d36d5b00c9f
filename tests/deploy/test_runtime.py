"""``lumbarseg infer --model`` runs a bundle alone; ONNX Runtime gives PyTorch's levels."""

from __future__ import annotations

import json
from pathlib import Path

from lumbarseg.cli import main


def _records(out: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((out / "per_image").glob("*.json"))}


def _levels(record: dict) -> list[tuple]:
    return [(v.get("level"), v.get("category_id")) for v in record["vertebrae"]]


def test_bundle_runs_alone_and_runtimes_agree(bundle, phantom_dicoms, tmp_path):
    runs = {}
    secret = tmp_path / "image_secret.txt"  # one secret: both runs key the images alike
    secret.write_text("deploy-test-secret\n")
    for runtime in ("pytorch", "onnxruntime"):
        out = tmp_path / runtime
        status = main(["infer", "--model", str(bundle), "--input", str(phantom_dicoms),
                       "--out", str(out), "--runtime", runtime, "--device", "cpu", "--quiet",
                       "--image-secret-file", str(secret)])
        assert status == 0
        run = json.loads((out / "run.json").read_text())
        assert run["runtime"] == runtime and run["counts"]["ok"] == 8
        assert run["config"] == str(bundle)
        runs[runtime] = _records(out)
    torch_records, onnx_records = runs["pytorch"], runs["onnxruntime"]
    assert torch_records.keys() == onnx_records.keys() and len(torch_records) == 8
    found = 0
    for key, record in torch_records.items():
        other = onnx_records[key]
        assert _levels(other) == _levels(record), key
        found += len(record["vertebrae"])
        for a, b in zip(record["vertebrae"], other["vertebrae"], strict=True):
            assert a["segmentation"]["size"] == b["segmentation"]["size"]
            assert abs(a["score"] - b["score"]) < 1e-3
    assert found > 0


def test_runtime_fingerprint_keeps_resume_apart(bundle, phantom_dicoms, tmp_path):
    """A --resume with another runtime redoes the images: records name what made them."""
    out = tmp_path / "run"
    args = ["infer", "--model", str(bundle), "--input", str(phantom_dicoms), "--out", str(out),
            "--device", "cpu", "--quiet", "--max-images", "4"]
    assert main(args) == 0
    first = json.loads((out / "run.json").read_text())["model"]
    assert main([*args[:-2], "--resume", "--runtime", "onnxruntime"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["model"] != first
    assert run["counts"]["processed_this_run"] == 8 and run["counts"]["done_before"] == 0

"""The steps of an inference process, each on its own (no model needed)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from lumbarseg.inference.discovery import image_key
from lumbarseg.inference.run import (
    InferenceOptions,
    Models,
    ShardResult,
    merge_if_last,
    select_work,
    write_status,
)
from lumbarseg.inference.writers import RECORD_VERSION, OutputFolder

MODEL = "model-fingerprint"


@pytest.fixture
def pngs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(10):
        cv2.imwrite(str(folder / f"im{i:02d}.png"), np.full((8, 6), i, np.uint8))
    (folder / "notes.txt").write_text("not an image")
    return folder


def _options(pngs, out, **kw) -> InferenceOptions:
    return InferenceOptions(config="cfg.yaml", weights="w.pth", inputs=[str(pngs)], out=str(out),
                            batch_size=1, **kw)  # blocks of BLOCK_BATCHES = 4 images


def _record(item, model=MODEL) -> dict:
    """A finished record as a default run writes it (no relative path)."""
    return {"version": RECORD_VERSION, "image_key": item.image_key, "image_id": item.image_id,
            "height": 8, "width": 6, "model": model,
            "vertebrae": [], "rejected": [], "flags": {"missing_levels": ["L1"]},
            "measurements": {}}


def test_select_work_shards_and_resumes_by_block(pngs, tmp_path):
    out = OutputFolder(tmp_path / "out")
    plan = select_work(_options(pngs, out.root), out, MODEL)
    assert [i.relative_path for i in plan.items] == [f"im{i:02d}.png" for i in range(10)]
    assert [s.path for s in plan.discovery_skips] == ["notes.txt"]
    assert plan.chosen == list(range(10)) and plan.done_before == 0 and not plan.limited
    assert plan.blocks == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]

    # Two processes of external shard 1/2: this one (rank 1) is shard 3 of 4.
    mine = select_work(_options(pngs, out.root, shard=(1, 2)), out, MODEL, rank=1, world=2)
    assert (mine.index, mine.count) == (3, 4)
    assert [i.image_id for i in mine.mine] == [4, 8]

    # Block 0 done, one of its files failed last time; block 1 half done; a stale model's
    # record in block 2 does not count.
    for pos in (0, 2, 3, 4, 5):
        out.write_record(_record(plan.items[pos]))
    out.write_record(_record(plan.items[8], model="older"))
    out.write_shard_status(0, 1, {"failures": [{"key": image_key("im01.png", out.image_secret()),
                                                "reason": "broken"}], "skipped": []})
    resumed = select_work(_options(pngs, out.root, resume=True), out, MODEL)
    assert resumed.chosen == [1, 4, 5, 6, 7, 8, 9]  # the failure alone, blocks 1 and 2 whole
    assert resumed.done_before == 3
    # A record with a path is not what a default run writes (nor one without, for a
    # --keep-paths run): resuming redoes it rather than mix the two kinds in one output.
    with_path = select_work(_options(pngs, out.root, resume=True, keep_paths=True), out, MODEL)
    assert with_path.done_before == 0
    limited = select_work(_options(pngs, out.root, resume=True, max_images=2), out, MODEL)
    assert limited.chosen == [1, 4] and limited.limited and limited.done_before == 3


def test_merge_waits_for_every_shard_then_writes_run_json(pngs, tmp_path):
    out = OutputFolder(tmp_path / "out")
    models = Models(cfgs=[], weights=[], labeller="detector-classes", model_id=MODEL)
    plans = [select_work(_options(pngs, out.root, shard=(k, 2)), out, MODEL) for k in (0, 1)]
    for item in plans[0].items[1:]:
        out.write_record(_record(item))
    secret = out.image_secret()  # made by select_work, once, owner-only
    assert oct(out.secret_path.stat().st_mode & 0o777) == "0o600"
    key = {name: image_key(name, secret) for name in ("im00.png", "im01.png", "notes.txt")}
    write_status(out, plans[0], MODEL, ShardResult({key["im00.png"]: "truncated"}, {}, 2.0, 0))
    assert merge_if_last(_options(pngs, out.root), out, plans[0], models, "cpu", 0) is None
    assert not (out.root / "run.json").exists()

    write_status(out, plans[1], MODEL,
                 ShardResult({}, {key["im01.png"]: "not an image"}, 4.0, 0))
    status = json.loads(out.shard_status_path(0, 2).read_text())
    assert status["failures"] == [{"key": key["im00.png"], "reason": "truncated"}]
    run = merge_if_last(_options(pngs, out.root), out, plans[1], models, "cpu", 0)
    assert run == out.read_run()
    assert run["failures"] == [{"key": key["im00.png"], "reason": "truncated"}]
    assert run["skipped"] == [{"key": key["im01.png"], "reason": "not an image"},
                              {"key": key["notes.txt"], "reason": run["skipped"][1]["reason"]}]
    assert run["counts"]["ok"] == 8 and run["counts"]["failed"] == 1
    assert run["counts"]["skipped"] == 2 and run["elapsed_s"] == 4.0
    assert "input_root" not in run and str(pngs) not in out.run_path.read_text()
    assert [im["file_name"] for im in out.images()] == [
        image_key(f"im{i:02d}.png", secret) for i in range(2, 10)]
    # The one file that names the inputs: the private linkage, every discovered file in it.
    linkage = out.linkage()
    assert linkage[key["notes.txt"]]["status"] == "skipped"
    assert linkage[key["im00.png"]]["status"] == "failed"
    assert linkage[image_key("im05.png", secret)]["source_path"] == str(pngs.resolve() / "im05.png")
    assert oct(out.linkage_path.stat().st_mode & 0o777) == "0o600"

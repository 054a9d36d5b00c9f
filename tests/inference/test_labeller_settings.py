"""The labeller's settings as config keys (LUMBARSEG.LABELLER.*), used by `lumbarseg infer`
and part of the run fingerprint together with the lumbarseg version."""

from __future__ import annotations

import dataclasses
import json

from lumbarseg.cli import main
from lumbarseg.config import get_cfg, load_config
from lumbarseg.config.defaults import labeller_config
from lumbarseg.postprocess.config import LabellerConfig
from tests.helpers.infer_inputs import CPU_CONFIG, OPTS


def test_every_labeller_field_is_a_config_key_with_its_default():
    cfg = get_cfg()
    fields = dataclasses.fields(LabellerConfig)
    assert sorted(cfg.LUMBARSEG.LABELLER) == sorted(f.name.upper() for f in fields)
    assert labeller_config(cfg) == LabellerConfig()
    tuned = load_config(CPU_CONFIG, ["LUMBARSEG.LABELLER.GAP_PENALTY", "3.5",
                                     "LUMBARSEG.LABELLER.LOW_CONFIDENCE", "0.9"])
    assert labeller_config(tuned) == LabellerConfig(gap_penalty=3.5, low_confidence=0.9)


def test_a_new_labeller_field_becomes_a_key_without_edits(monkeypatch):
    @dataclasses.dataclass
    class Extended(LabellerConfig):
        new_knob: float = 1.5
        levels_seen: list = dataclasses.field(default_factory=lambda: ["L1"])

    monkeypatch.setattr("lumbarseg.postprocess.config.LabellerConfig", Extended)
    cfg = get_cfg()
    assert cfg.LUMBARSEG.LABELLER.NEW_KNOB == 1.5
    cfg.merge_from_list(["LUMBARSEG.LABELLER.NEW_KNOB", "2.5",
                         "LUMBARSEG.LABELLER.LEVELS_SEEN", "('L2', 'L3')"])
    config = labeller_config(cfg)
    assert isinstance(config, Extended)
    assert (config.new_knob, config.levels_seen) == (2.5, ["L2", "L3"])


def test_fingerprint_follows_labeller_settings_and_version(monkeypatch, tmp_path):
    from lumbarseg.inference.run import InferenceOptions, resolve_models

    def model_id(*opts: str) -> str:
        options = InferenceOptions(config=str(CPU_CONFIG), weights=str(tmp_path / "w.pth"),
                                   inputs=[], out=str(tmp_path), opts=[*OPTS, *opts])
        return resolve_models(options, "cpu").model_id

    base = model_id()
    assert model_id() == base
    assert model_id("LUMBARSEG.LABELLER.GAP_PENALTY", "3.0") != base
    monkeypatch.setattr("lumbarseg.__version__", "999.0")
    assert model_id() != base


def test_resume_redoes_images_when_labeller_settings_change(tiny_weights, input_folder,
                                                            tmp_path):
    one = input_folder["root"] / "study1" / "series1" / "IM0001"
    out = tmp_path / "out"

    def infer(*extra: str) -> dict:
        argv = ["infer", "--config", str(CPU_CONFIG), "--weights", tiny_weights, "--input",
                str(one), "--out", str(out), "--quiet", "--device", "cpu", "--workers", "0",
                "--resume", *OPTS, *extra]
        assert main(argv) == 0
        run = json.loads((out / "run.json").read_text())
        (record,) = [json.loads(p.read_text()) for p in (out / "per_image").glob("*.json")]
        return {"processed": run["counts"]["processed_this_run"], "record": record}

    first = infer()
    assert first["processed"] == 1 and first["record"]["vertebrae"]
    assert infer()["processed"] == 0  # same settings: nothing to redo
    # No confidence is below 0, every one below 1.01: the setting reaches the labeller, and
    # resume notices each change.
    # (The tiny model's column may be flagged for other reasons too: only the threshold's own
    # reason is checked.)
    lax = infer("LUMBARSEG.LABELLER.LOW_CONFIDENCE", "0.0")
    assert lax["processed"] == 1 and not _threshold_reason(lax["record"])
    strict = infer("LUMBARSEG.LABELLER.LOW_CONFIDENCE", "1.01")
    assert strict["processed"] == 1 and strict["record"]["flags"]["low_confidence"] is True
    assert _threshold_reason(strict["record"])
    assert len({r["record"]["model"] for r in (first, lax, strict)}) == 3


def _threshold_reason(record: dict) -> bool:
    return any(r.startswith("level confidence below threshold")
               for r in record["flags"]["low_confidence_reasons"])

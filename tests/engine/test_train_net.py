"""tools/train_net.py: Detectron2's command line, evaluation hooks, --resume and --eval-only."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from detectron2.engine import default_argument_parser

from tests.helpers.spine import write_tiny_coco

ROOT = Path(__file__).resolve().parents[2]


def _train_net():
    spec = importlib.util.spec_from_file_location("train_net", ROOT / "tools" / "train_net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(*argv: str):
    return default_argument_parser().parse_args(list(argv))


@pytest.fixture(scope="module")
def split_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_net")
    return write_tiny_coco(root / "train", 4, seed=1), write_tiny_coco(root / "val", 2, seed=2)


def _opts(split_data, out: Path, max_iter: int, tag: str) -> list[str]:
    train, val = split_data
    return [
        "LUMBARSEG.DATASETS", f'("tn_train_{tag}={train}","tn_val_{tag}={val}")',
        "DATASETS.TRAIN", f'("tn_train_{tag}",)', "DATASETS.TEST", f'("tn_val_{tag}",)',
        "INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MIN_SIZE_TEST", "128",
        "SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", str(max_iter), "SOLVER.STEPS", "()",
        "SOLVER.WARMUP_ITERS", "1", "SOLVER.CHECKPOINT_PERIOD", "2", "TEST.EVAL_PERIOD", "2",
        "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
        "DATALOADER.NUM_WORKERS", "0", "MODEL.DEVICE", "cpu", "OUTPUT_DIR", str(out),
    ]


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]


def test_train_resume_and_eval_only_agree(split_data, tmp_path):
    train_net = _train_net()
    config = str(ROOT / "configs/cpu/mask_rcnn_R_18_FPN.yaml")
    out = tmp_path / "run"

    results = train_net.main(_args("--config-file", config, *_opts(split_data, out, 4, "a")))
    assert (out / "model_final.pth").is_file() and (out / "model_0000001.pth").is_file()
    assert set(results) >= {"segm", "bbox", "labelmap", "levels"}
    logged = _metrics(out)
    trained = [m["iteration"] for m in logged if "total_loss" in m]
    assert trained[-1] == 3
    # Validation loss and the evaluation were logged at the evaluation period.
    assert any("val/total_loss" in m for m in logged)
    assert any("labelmap/mean_iou" in m for m in logged)
    assert (out / "model_best.pth").is_file()

    # --resume continues from the last checkpoint instead of starting over.
    train_net.main(
        _args("--config-file", config, "--resume", *_opts(split_data, out, 6, "b"))
    )
    resumed = [m["iteration"] for m in _metrics(out)[len(logged):] if "total_loss" in m]
    assert resumed and min(resumed) >= 4 and max(resumed) == 5

    # --eval-only on the final weights reproduces the training-time evaluation.
    weights = str(out / "model_final.pth")
    final = train_net.main(_args(
        "--config-file", config, "--eval-only",
        *_opts(split_data, tmp_path / "eval", 6, "c"), "MODEL.WEIGHTS", weights,
    ))
    last_eval = next(m for m in reversed(_metrics(out)) if "labelmap/mean_iou" in m)
    for key in ("labelmap/mean_iou", "labelmap/pixel_acc", "segm/AP", "bbox/AP"):
        section, metric = key.split("/")
        a, b = final[section][metric], last_eval[key]
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-9), key


def test_num_gpus_on_a_cpu_config_trains_in_cpu_processes(split_data, tmp_path):
    # Detectron2's launch starts CPU processes over gloo; the trainer must wrap the model
    # for them (torch refuses the device_ids Detectron2 passes) and log from one of them.
    out = tmp_path / "two"
    config = str(ROOT / "configs/cpu/mask_rcnn_R_18_FPN.yaml")
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "train_net.py"), "--num-gpus", "2",
         "--config-file", config, *_opts(split_data, out, 4, "d")],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "model_final.pth").is_file()
    assert (out / "log.txt.rank1").is_file()  # the second process trained beside the first
    trained = [m["iteration"] for m in _metrics(out) if "total_loss" in m]
    assert trained[-1] == 3
    assert any("labelmap/mean_iou" in m for m in _metrics(out))  # evaluated over both ranks

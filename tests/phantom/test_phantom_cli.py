"""``lumbarseg phantom`` end to end, small."""

from __future__ import annotations

import json

import cv2

from lumbarseg.cli import main


def test_cli_writes_dataset_and_preview(tmp_path, capsys):
    out = tmp_path / "ph"
    code = main(["phantom", "--out", str(out), "--n", "3", "--seed", "2", "--size", "160",
                 "--difficulty", "easy", "--postop-share", "1", "--preview"])
    assert code == 0
    coco = json.loads((out / "annotations.json").read_text())
    assert len(coco["images"]) == 3
    assert all(img["lumbarseg_truth"]["postop"] for img in coco["images"])
    sheet = cv2.imread(str(out / "preview.png"))
    assert sheet is not None and sheet.shape[0] >= 160
    assert "wrote 3 phantoms" in capsys.readouterr().out


def test_cli_bad_size_is_a_one_line_error(tmp_path, capsys):
    code = main(["phantom", "--out", str(tmp_path / "x"), "--n", "1", "--size", "50"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "size" in err and "\n" not in err
    assert not (tmp_path / "x" / "annotations.json").exists()

"""A COCO file_name that leaves the image folder is refused, with one line naming the file."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from lumbarseg.cli import main
from lumbarseg.errors import InputFileError
from lumbarseg.io.paths import resolve_inside, stays_inside
from tests.helpers.coco import noisy_predictions, spine_coco

ESCAPES = ["../../../../etc/passwd", "a/../../b.png", "/etc/passwd", "..\\..\\x.png", "C:x.png"]


@pytest.mark.parametrize("name", ESCAPES)
def test_names_that_leave_the_folder_are_refused(tmp_path, name):
    assert not stays_inside(name)
    with pytest.raises(InputFileError, match="outside the image folder"):
        resolve_inside(tmp_path, name, tmp_path / "gt.json")


@pytest.mark.parametrize("name", ["a.png", "sub/a.png", "sub/../a.png", "./a.png"])
def test_names_inside_the_folder_resolve(tmp_path, name):
    assert stays_inside(name) and resolve_inside(tmp_path, name, "x") == tmp_path / name


def _secret_outside(tmp_path) -> str:
    """A readable image outside the image folder, and the relative name that reaches it."""
    outside = tmp_path / "outside.png"
    cv2.imwrite(str(outside), np.full((140, 90), 255, np.uint8))
    (tmp_path / "images").mkdir()
    return "../outside.png"


def test_label_refuses_file_name_outside_image_root(tmp_path, capsys):
    gt = spine_coco(3)
    gt["images"][1]["file_name"] = _secret_outside(tmp_path)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(noisy_predictions(gt)))
    code = main(["label", "--predictions", str(tmp_path / "pred.json"), "--images",
                 str(tmp_path / "gt.json"), "--out", str(tmp_path / "out.json"),
                 "--image-root", str(tmp_path / "images")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "gt.json" in err and "'../outside.png' points outside the image folder" in err
    assert not (tmp_path / "out.json").exists()


def test_register_refuses_file_name_outside_its_root(tmp_path):
    from lumbarseg.data.register import load_lumbarseg_json

    gt = spine_coco(1)
    gt["images"][0]["file_name"] = _secret_outside(tmp_path)
    (tmp_path / "images" / "gt.json").write_text(json.dumps(gt))
    with pytest.raises(InputFileError, match="points outside the image folder"):
        load_lumbarseg_json(tmp_path / "images" / "gt.json")


def test_convert_reports_the_escaping_image_and_converts_the_rest(tmp_path, capsys):
    gt = spine_coco(2)
    gt["images"][1]["file_name"] = _secret_outside(tmp_path)
    cv2.imwrite(str(tmp_path / "images" / "img0.png"), np.full((140, 90), 90, np.uint8))
    (tmp_path / "images" / "gt.json").write_text(json.dumps(gt))
    code = main(["convert", "--from", "coco", str(tmp_path / "images" / "gt.json"),
                 "--images", str(tmp_path / "images"), "--out", str(tmp_path / "out")])
    assert code == 1
    assert "'../outside.png' points outside the image folder" in capsys.readouterr().out
    written = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert len(written["images"]) == 1

"""Each kind of broken input gets its own specific message; the other files still convert."""

from __future__ import annotations

import json

import numpy as np

from lumbarseg.cli import main
from lumbarseg.data.convert.pipeline import convert_dataset
from lumbarseg.data.convert.records import ConvertOptions
from lumbarseg.data.convert.validate import clean_polygons


def _labelme(path, scene, image="a.png", edit=None):
    shapes = [
        {"label": level, "points": np.reshape(poly, (-1, 2)).tolist(), "shape_type": "polygon"}
        for level, poly in scene.polygons().items()
    ]
    if edit:
        edit(shapes)
    path.write_text(json.dumps({"shapes": shapes, "imagePath": image, "imageData": None}))
    return path


def _set(level_index, points):
    def edit(shapes):
        shapes[level_index]["points"] = points

    return edit


def test_each_broken_file_reported_others_convert(tmp_path, scene, capsys):
    scene.image(tmp_path / "a.png")
    d = tmp_path
    _labelme(d / "good.json", scene)
    (d / "bad_json.json").write_text("{not json")
    (d / "not_labelme.json").write_text(json.dumps({"hello": 1}))
    _labelme(d / "missing_image.json", scene, image="nowhere.png")
    _labelme(d / "unknown_label.json", scene, edit=lambda s: s[0].update(label="liver"))
    _labelme(d / "duplicate.json", scene, edit=lambda s: s[1].update(label="L1"))
    # bow-tie L2: repaired (warning), image kept
    _labelme(d / "bowtie.json", scene, edit=_set(1, [[40, 48], [110, 76], [110, 48], [40, 76]]))
    # tiny S1 and out-of-image L5: dropped (warnings), image kept
    _labelme(d / "tiny.json", scene, edit=_set(5, [[50, 200], [52, 200], [52, 202]]))
    _labelme(d / "outside.json", scene, edit=_set(4, [[500, 500], [600, 500], [600, 560]]))
    _labelme(d / "degenerate.json", scene, edit=_set(2, [[50, 90], [60, 90], [50, 90]]))
    code = main(["convert", "--from", "labelme", str(d), "--out", str(d / "out")])
    captured = capsys.readouterr().out
    assert code == 1  # some files failed
    report = json.loads((d / "out" / "conversion_report.json").read_text())
    # the shareable report has counts only; issues name source paths: private folder
    assert "issues" not in report and str(d) not in json.dumps(report)
    issues = json.loads((d / "out" / "private" / "conversion_issues.json").read_text())
    by_file: dict[str, list[tuple[str, str]]] = {}
    for issue in issues:
        name = issue["where"].rsplit("/", 1)[-1]
        by_file.setdefault(name, []).append((issue["severity"], issue["problem"]))
    assert "invalid JSON (line 1" in by_file["bad_json.json"][0][1]
    assert "not a labelme JSON" in by_file["not_labelme.json"][0][1]
    assert "missing image file" in by_file["missing_image.json"][0][1]
    assert "unknown label 'liver'" in by_file["unknown_label.json"][0][1]
    assert "duplicate levels in one image (L1 x2)" in by_file["duplicate.json"][0][1]
    assert by_file["bowtie.json"] == [
        ("warning", "L2: self-intersecting polygon repaired with make_valid")
    ]
    assert by_file["tiny.json"][0][0] == "warning" and "tiny polygon" in by_file["tiny.json"][0][1]
    assert "outside the 160x240 image" in by_file["outside.json"][0][1]
    assert "degenerate polygon" in by_file["degenerate.json"][0][1]
    assert "good.json" not in by_file
    # good + bowtie + tiny + outside + degenerate were written; 5 files failed
    assert report["images"] == 5 and report["errors"] == 5
    assert report["instances"] == {"L1": 5, "L2": 5, "L3": 4, "L4": 5, "L5": 4, "S1": 4}
    assert "issues: 5 error(s)" in captured and "missing image file" in captured
    written = json.loads((d / "out" / "annotations.json").read_text())
    assert len(written["images"]) == 5
    assert len(list((d / "out" / "images").glob("*.png"))) == 5


def test_refuse_invalid_polygons_when_asked(tmp_path, scene):
    scene.image(tmp_path / "a.png")
    path = _labelme(
        tmp_path / "x.json", scene, edit=_set(1, [[40, 48], [110, 76], [110, 48], [40, 76]])
    )
    result = convert_dataset(
        "labelme", [path], tmp_path / "out", ConvertOptions(repair_invalid=False)
    )
    assert not result.images and "self-intersecting polygon" in result.errors[0].problem


def test_annotation_size_mismatch(tmp_path, scene):
    scene.image(tmp_path / "a.png")
    path = _labelme(tmp_path / "x.json", scene)
    doc = json.loads(path.read_text())
    doc.update(imageWidth=300, imageHeight=200)
    path.write_text(json.dumps(doc))
    result = convert_dataset("labelme", [path], tmp_path / "out")
    assert "annotation says 300x200 but the image is 160x240" in result.errors[0].problem


def test_broken_image_file_and_missing_input(tmp_path, scene):
    (tmp_path / "a.png").write_bytes(b"not a png")
    path = _labelme(tmp_path / "x.json", scene)
    result = convert_dataset("labelme", [path, tmp_path / "nope.json"], tmp_path / "out")
    problems = sorted(i.problem for i in result.errors)
    assert problems == ["input not found", "not a readable image file"]


def test_bowtie_repair_keeps_area():
    shape = clean_polygons([[0, 0, 40, 40, 40, 0, 0, 40]], 100, 100)
    assert len(shape.polygons) == 2 and abs(shape.area - 800) < 1e-6
    clipped = clean_polygons([[90, 10, 120, 10, 120, 40, 90, 40]], 100, 100)
    assert clipped.bbox == [90, 10, 10, 30] and "clipped" in clipped.warnings[0]


def test_existing_output_not_overwritten(tmp_path, scene):
    scene.image(tmp_path / "a.png")
    path = _labelme(tmp_path / "x.json", scene)
    assert main(["convert", "--from", "labelme", str(path), "--out", str(tmp_path / "o")]) == 0
    assert main(["convert", "--from", "labelme", str(path), "--out", str(tmp_path / "o")]) == 2
    args = ["convert", "--from", "labelme", str(path), "--out", str(tmp_path / "o"), "--overwrite"]
    assert main(args) == 0

"""The labeller's parts on small synthetic columns: metal, fused blocks, Instances, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lumbarseg.postprocess import Candidate, candidates_from_instances, label_vertebrae
from lumbarseg.postprocess.config import LabellerConfig
from lumbarseg.postprocess.filtering import split_merged_masks
from tests.helpers import buu_cases as bc


def test_body_shaped_metal_is_rejected_when_the_image_is_given(buu_files):
    image, masks = bc.flat_film(bc.load_case(buu_files[3]))
    metal = bc.cage_below(masks[2])  # a body-sized metal block in the L3-L4 disc space
    image[metal] = 1.0
    cands = [Candidate(mask=m) for m in masks] + [Candidate(mask=metal, score=0.99)]
    res = label_vertebrae(cands, image=image)
    assert {r.index: r.reason for r in res.rejected} == {6: "implant_metal"}
    assert res.flags["implants_present"]
    assert [v.level for v in res.vertebrae] == ["L1", "L2", "L3", "L4", "L5", "S1"]


def test_fused_block_is_flagged_and_counts_as_two_levels(buu_files):
    case = bc.load_case(buu_files[0])
    l4, l5 = case.bodies[3].corners, case.bodies[4].corners
    block = np.array([l4[0], l4[1], l5[2], l5[3]])
    cands = [Candidate(polygon=b.corners) for b in case.bodies[:3]]
    cands += [Candidate(polygon=block), Candidate(polygon=case.bodies[5].corners)]
    res = label_vertebrae(cands, image_shape=case.size)
    assert [v.level for v in res.vertebrae] == ["L1", "L2", "L3", "L4", "S1"]
    assert res.vertebrae[3].spans == ["L4", "L5"]
    assert res.flags["fused_block"] and "L5" not in res.flags["missing_levels"]


def test_no_candidates_gives_an_empty_flagged_result():
    res = label_vertebrae([])
    assert res.vertebrae == [] and res.flags["no_vertebrae"]
    json.dumps(res.to_json())


@pytest.mark.parametrize("count", [1, 2, 3])
def test_a_film_with_one_to_three_bodies_is_labelled_and_flagged(count):
    # The film cue reads the two bodies at each end and the bone beside them: with so few
    # bodies the ends overlap and a body may have no neighbour on one side.
    image = np.full((400, 200), 40.0)
    cands = []
    for k in range(count):
        y = 60 + 70 * k
        image[y:y + 45, 60:140] = 200.0
        cands.append(Candidate(polygon=np.array([[60, y], [140, y], [140, y + 45], [60, y + 45]],
                                                float), score=0.9))
    res = label_vertebrae(cands, image=image)
    assert len(res.vertebrae) == count
    assert res.flags["low_confidence"]


def test_candidates_from_detectron2_instances(buu_files):
    structures = pytest.importorskip("detectron2.structures")
    torch = pytest.importorskip("torch")
    case = bc.load_case(buu_files[1])
    masks = np.stack(bc.masks_of(case))
    inst = structures.Instances(masks.shape[1:])
    inst.pred_masks = torch.from_numpy(masks)
    inst.scores = torch.ones(len(masks))
    inst.pred_classes = torch.zeros(len(masks), dtype=torch.int64)  # one "vertebra" class
    inst.pred_boxes = structures.Boxes(torch.zeros(len(masks), 4))
    cands = candidates_from_instances(inst)
    assert all(c.class_id is None and c.class_scores is None for c in cands)
    res = label_vertebrae(cands)
    assert [v.level for v in res.vertebrae] == ["L1", "L2", "L3", "L4", "L5", "S1"]
    assert res.flags["anchor"] == "S1"


def test_label_cli_writes_coco_results_and_sidecar(buu_files, tmp_path):
    from pycocotools import mask as mask_utils

    from lumbarseg.cli import main

    case = bc.shuffled(bc.add_implants(bc.load_case(buu_files[2]), np.random.default_rng(1)),
                       np.random.default_rng(2))
    h, w = case.size
    preds = []
    for b, m in zip(case.bodies, bc.masks_of(case), strict=True):
        rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        preds.append({"image_id": 7, "category_id": 1, "score": b.score,
                      "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
    preds.append({"image_id": 7, "category_id": 1, "score": 0.9,
                  "segmentation": [case.bodies[0].corners.ravel().tolist()]})  # polygon duplicate
    images = {"images": [{"id": 7, "height": h, "width": w, "file_name": "x.dcm",
                          "pixel_spacing_mm": [0.15, 0.15]}],
              "categories": [{"id": 1, "name": "vertebra"}]}
    (tmp_path / "p.json").write_text(json.dumps(preds))
    (tmp_path / "i.json").write_text(json.dumps(images))
    out = tmp_path / "labelled.json"
    assert main(["label", "--predictions", str(tmp_path / "p.json"), "--images",
                 str(tmp_path / "i.json"), "--out", str(out)]) == 0
    labelled = json.loads(out.read_text())
    got = {r["category_id"] for r in labelled}
    assert got == {1, 2, 3, 4, 5, 6} and len(labelled) == 6
    truth = {i: b.level for i, b in enumerate(case.bodies) if b.is_vertebra}

    def pixels(segmentation) -> np.ndarray:
        if isinstance(segmentation, list):
            segmentation = mask_utils.merge(mask_utils.frPyObjects(segmentation, h, w))
        return mask_utils.decode(segmentation).astype(bool)

    for r in labelled:
        same = [p for p in preds if p["segmentation"] == r["segmentation"]]
        if not same:
            # S1's outline ran into the lower sacrum (this case draws S2 under it): the row
            # holds the cut, which lies inside its detection's mask
            assert r["level"] == "S1"
            cut = pixels(r["segmentation"])
            same = [p for p in preds if np.mean(pixels(p["segmentation"])[cut]) > 0.99]
            assert len(same) == 1 and cut.sum() < pixels(same[0]["segmentation"]).sum()
            x, y, bw, bh = r["bbox"]
            rows, cols = np.nonzero(cut)
            assert (x, y) == pytest.approx((cols.min(), rows.min()), abs=1.5)
        source = same[0]
        assert r["level"] == truth[preds.index(source)]
        assert r["detection_score"] == pytest.approx(source["score"], abs=1e-5)
        assert r["score"] == pytest.approx(source["score"] * r["level_confidence"], abs=1e-4)
    # Labelling its own output again reads the detection score, not the ranked one.
    again = tmp_path / "again.json"
    assert main(["label", "--predictions", str(out), "--images", str(tmp_path / "i.json"),
                 "--out", str(again)]) == 0
    assert sorted(r["detection_score"] for r in json.loads(again.read_text())) == sorted(
        r["detection_score"] for r in labelled)
    side = json.loads((tmp_path / "labelled.sidecar.json").read_text())
    record = side["images"]["7"]
    assert record["flags"]["implants_present"]
    assert record["measurements"]["body_heights"]["L2"]["anterior_mm"] > 0


def test_label_cli_reports_a_bad_file_in_one_line(tmp_path, capsys):
    from lumbarseg.cli import main

    (tmp_path / "p.json").write_text("{not json")
    (tmp_path / "i.json").write_text(json.dumps({"images": []}))
    code = main(["label", "--predictions", str(tmp_path / "p.json"), "--images",
                 str(tmp_path / "i.json"), "--out", str(tmp_path / "o.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "p.json" in err and "\n" not in err
    assert not (tmp_path / "o.json").exists()


def test_label_cli_reports_each_bad_prediction_in_one_line_and_labels_the_rest(
        buu_files, tmp_path, capsys):
    from lumbarseg.cli import main

    case = bc.load_case(buu_files[4])
    h, w = case.size
    good = [{"image_id": 1, "category_id": 1, "score": 0.9,
             "segmentation": [b.corners.ravel().tolist()]} for b in case.bodies]
    poly = good[0]["segmentation"][0]
    bad = [
        {"image_id": 99, "category_id": 1, "score": 0.9, "segmentation": [poly]},  # unknown id
        {"image_id": 1, "category_id": 1, "score": 0.9, "segmentation": []},  # empty
        {"image_id": 1, "category_id": 1, "score": 0.9,
         "segmentation": [[float("nan")] + poly[1:]]},  # NaN vertex
        {"image_id": 1, "category_id": 1, "score": -0.3, "segmentation": [poly]},  # negative
        {"image_id": 1, "category_id": 1, "score": 0.9,
         "segmentation": {"size": [h, w], "counts": [h * w]}},  # empty RLE mask
    ]
    (tmp_path / "p.json").write_text(json.dumps(good[:3] + bad + good[3:]))
    (tmp_path / "i.json").write_text(json.dumps({
        "images": [{"id": 1, "height": h, "width": w, "file_name": "a.png"},
                   {"id": 2, "height": h, "width": w, "file_name": "b.png"}],
        "categories": [{"id": 1, "name": "vertebra"}]}))
    out = tmp_path / "o.json"
    code = main(["label", "--predictions", str(tmp_path / "p.json"), "--images",
                 str(tmp_path / "i.json"), "--out", str(out)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 0
    assert len(err) == len(bad)
    for line, word in zip(err, ("99", "empty", "NaN", "negative", "empty"), strict=True):
        assert "p.json" in line and word in line and "Traceback" not in line
    labelled = json.loads(out.read_text())
    assert sorted(r["level"] for r in labelled) == sorted(["L1", "L2", "L3", "L4", "L5", "S1"])
    side = json.loads((tmp_path / "o.sidecar.json").read_text())
    assert [s["index"] for s in side["skipped_predictions"]] == [3, 4, 5, 6, 7]
    assert side["images"]["2"]["flags"]["no_vertebrae"]


def test_nan_or_negative_candidates_are_rejected_not_labelled():
    square = np.array([[0, 0], [40, 0], [40, 30], [0, 30]], float)
    cands = [Candidate(polygon=square + [0, 50 * k], score=0.9) for k in range(5)]
    cands.append(Candidate(polygon=np.where(square == 40, np.nan, square) + [0, 300]))
    cands.append(Candidate(polygon=square + [0, 350], score=float("nan")))
    res = label_vertebrae(cands)
    reasons = {r.index: r.reason for r in res.rejected}
    assert reasons[5] == "empty" and reasons[6] == "low_score"
    assert len(res.vertebrae) == 5


def _film_with_body_and(below: str) -> tuple[np.ndarray, list[list[float]]]:
    """A 400 x 300 film: soft tissue 0.2, a body (0.8) at rows 100-180, and under it a disc
    space (0.35) then bone, bone straight on, a cage (saturated) in the disc space, or nothing;
    a little noise, clipped where the detector saturates (1.0)."""
    img = np.full((400, 300), 0.2, np.float32)
    img[:, :40] = 0.05  # air beside the patient
    img[100:180, 100:220] = 0.8
    if below == "disc then bone":
        img[180:200, 100:220] = 0.35
        img[200:300, 100:220] = 0.8
    elif below == "bone":
        img[180:300, 100:220] = 0.75
    elif below == "cage in the disc":
        img[180:200, 100:220] = 1.0
        img[200:300, 100:220] = 0.8
        img[380:, 260:] = 1.0  # metal elsewhere too: the film's maximum
    img += np.random.default_rng(0).normal(0, 0.01, img.shape).astype(np.float32)
    return np.minimum(img, 1.0), [[100, 100], [220, 100], [220, 180], [100, 180]]


def test_the_film_reads_a_disc_gap_or_continuing_bone_below_a_body():
    from lumbarseg.postprocess.geometry import shape_of
    from lumbarseg.postprocess.sacrum_image import MAX_FOR, film_range, image_sacrum_llr

    def llr(below: str, invert: bool = False) -> float:
        img, poly = _film_with_body_and(below)
        if invert:
            img = 1.0 - img
        shape = shape_of(Candidate(polygon=np.array(poly, float), score=1.0))
        return image_sacrum_llr(img, shape, np.array([0.0, 1.0]), film_range(img))

    assert llr("disc then bone") < -2.0  # a body was missed below: not the sacrum
    assert llr("bone") == MAX_FOR > 0  # bone continues without a disc: the sacrum (capped)
    assert llr("nothing") == 0.0  # soft tissue below: no evidence either way
    assert llr("cage in the disc") == 0.0  # metal hides the disc space
    assert llr("bone", invert=True) == 0.0  # an inverted film is not read as bone


def test_an_outline_is_on_metal_only_along_a_thick_saturated_implant():
    from lumbarseg.postprocess.filtering import outline_on_metal
    from lumbarseg.postprocess.geometry import shape_of

    def share(edit) -> float:
        img = np.full((300, 300), 0.2, np.float32)
        img[100:180, 100:220] = 0.6  # the body's bone
        img[250:290, 20:60] = 1.0  # metal elsewhere: the film's maximum
        edit(img)
        img += np.random.default_rng(0).normal(0, 0.005, img.shape).astype(np.float32)
        body = shape_of(Candidate(polygon=np.array(
            [[100, 100], [220, 100], [220, 180], [100, 180]], float), score=1.0))
        return float(outline_on_metal(img, [body])[0])

    def screw_along_the_bottom(img):
        img[180:196, 80:240] = 1.0  # 16 px wide: a fifth of the body's height

    def bright_rim(img):
        img[97:100, 97:223] = img[180:183, 97:223] = 1.0  # a saturated cortex, 3 px thick
        img[97:183, 97:100] = img[97:183, 220:223] = 1.0

    assert share(lambda img: None) == 0.0
    assert share(screw_along_the_bottom) >= 0.2
    assert share(bright_rim) == 0.0


def _box_mask(shape, y0, y1, x0=70, x1=130):
    mask = np.zeros(shape, bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_a_mask_over_l5_and_s1_is_cut_down_to_s1_and_a_sacrum_mask_is_not():
    """One mask over L5 and S1 (called S1) around a body-sized L5 (called L5): the L5 mask
    alone would win the containment and lose S1 with the container. Called S1 both, the
    container is the sacrum around S1 and stays whole."""
    shape = (420, 200)
    bodies = [_box_mask(shape, 20 + 60 * k, 62 + 60 * k) for k in range(6)]  # L1..S1
    levels = ["L1", "L2", "L3", "L4", "L5", "S1"]
    cands = [Candidate(mask=m, score=0.95, class_scores=bc.level_scores(lv))
             for lv, m in zip(levels[:5], bodies[:5], strict=True)]
    l5_and_s1 = bodies[4] | bodies[5] | _box_mask(shape, 302, 320)  # the disc between them
    cands.append(Candidate(mask=l5_and_s1, score=0.97, class_scores=bc.level_scores("S1")))
    split = split_merged_masks(cands, LabellerConfig())
    piece = split[5].mask
    assert (piece & bodies[4]).sum() == 0
    assert (piece & bodies[5]).sum() / bodies[5].sum() > 0.8
    res = label_vertebrae(cands, image_shape=shape)
    assert [v.level for v in res.vertebrae] == levels
    assert res.flags["low_confidence"]  # S1's mask was made here, not by the detector
    assert any(r.startswith("one detection spanned two levels") and r.endswith(": S1")
               for r in res.flags["low_confidence_reasons"])
    # the same container and inner body, both called S1: a sacrum mask, left whole
    sacrum = cands[:4] + [Candidate(mask=bodies[4], score=0.95,
                                    class_scores=bc.level_scores("S1")), cands[5]]
    assert split_merged_masks(sacrum, LabellerConfig())[5] is sacrum[5]

"""HTML report: built from a small run folder, rendered in headless Chromium, DOM checked."""

from __future__ import annotations

import html.parser
import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from lumbarseg.cli import main as cli_main
from lumbarseg.evaluation.rle import encode_mask
from lumbarseg.report import build_report

H, W = 120, 90
EVIL = "<script>window.PWNED=1</script>&\"quote's.dcm"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _vertebrae(levels: list[str], rng: np.random.Generator) -> list[dict]:
    out = []
    for k, level in enumerate(levels):
        mask = np.zeros((H, W), np.uint8)
        y = 6 + 18 * k
        x = int(rng.integers(20, 30))
        mask[y:y + 14, x:x + 40] = 1
        out.append({"level": level, "score": 0.95, "level_confidence": float(rng.uniform(0.5, 1)),
                    "bbox": [x, y, 40, 14], "segmentation": encode_mask(mask)})
    return out


def _record(key: str, rel: str, levels: list[str], flags, lordosis, slip, rng) -> dict:
    return {
        "image_key": key, "image_id": 1, "relative_path": rel, "height": H, "width": W,
        "pixel_spacing_mm": [0.2, 0.2], "vertebrae": _vertebrae(levels, rng), "rejected": [],
        "flags": flags,
        "measurements": {
            "lordosis_deg": lordosis, "sacral_slope_deg": None if lordosis is None else 30.5,
            "segmental_angles_deg": {"L4-L5": 11.0, "L5-S1": 14.5} if lordosis else {},
            "listhesis": {"L4": {"percent": slip, "grade": 1 if slip > 5 else 0}},
        },
    }


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    run, root = tmp_path / "run", tmp_path / "input"
    (run / "per_image").mkdir(parents=True)
    (run / "overlays").mkdir()
    root.mkdir()
    all_levels = ["L1", "L2", "L3", "L4", "L5", "S1"]
    records = [
        _record("k_a", "a_clean.dcm", all_levels, {}, 48.0, 1.0, rng),
        _record("k_b", "b_cut.dcm", all_levels[2:], {"missing_levels": ["L1", "L2"],
                "fov_cut_top": True}, None, 2.0, rng),
        _record("k_c", "c_clean.png", all_levels, {}, 61.5, 3.0, rng),
        # flag text from the record reaches the page: a level name that is markup
        _record("k_d", EVIL, all_levels, {"implants_present": True,
                "missing_levels": ["<b>bold</b>"]}, 35.25, 22.0, rng),
        _record("k_e", "e_clean.dcm", all_levels, {}, 52.0, 0.5, rng),
    ]
    for record in records:
        (run / "per_image" / f"{record['image_key']}.json").write_text(json.dumps(record))
    (run / "per_image" / "broken.json").write_text("{not json")
    # one overlay written by the run, one source PNG for a generated overlay, the rest blank
    cv2.imwrite(str(run / "overlays" / "k_a.png"), np.full((H, W, 3), (0, 0, 255), np.uint8))
    cv2.imwrite(str(root / "c_clean.png"), np.full((H, W), 200, np.uint8))
    (run / "run.json").write_text(json.dumps({
        "input_root": str(root),
        "failures": [{"path": "bad/corrupt.dcm", "reason": "truncated pixel data"}],
        "skipped": [{"path": "sr.dcm", "reason": "not an image: structured report"}],
    }))
    (run / "evaluation").mkdir()
    (run / "evaluation" / "results.json").write_text(json.dumps({
        "segm": {"AP": 71.234, "AP50": 93.5, "AP-L1": 60.0, "AP-S1": 80.0},
        "labelmap": {"mean_iou": 0.8123, "IoU-L1": 0.7},
        "levels": {"recognition": 97.5, "images": 5},
    }))
    return run


class _DomReader(html.parser.HTMLParser):
    """Collects gallery card keys, result-row keys, header sort states and metric cells."""

    def __init__(self):
        super().__init__()
        self.cards, self.rows, self.sorted, self.metrics, self.scripts = [], [], {}, {}, 0
        self._metric = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "figure":
            self.cards.append((a.get("data-key"), "flagged" in (a.get("class") or "")))
        if tag == "tr" and "data-key" in a:
            self.rows.append(a["data-key"])
        if tag == "th" and "aria-sort" in a:
            self.sorted[a.get("data-key")] = a["aria-sort"]
        if tag == "td" and "data-metric" in a:
            self._metric = a["data-metric"]
        if tag == "script":
            self.scripts += 1

    def handle_data(self, data):
        if self._metric is not None:
            self.metrics[self._metric] = data.strip()
            self._metric = None


def _chromium(args: list[str], tmp_path: Path) -> str:
    profile = tmp_path / "chromium-profile"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
        "--virtual-time-budget=3000", *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _dom(index: Path, fragment: str, tmp_path: Path) -> _DomReader:
    reader = _DomReader()
    reader.feed(_chromium(["--dump-dom", index.resolve().as_uri() + fragment], tmp_path))
    return reader


def test_report_html_is_escaped_and_self_contained(run_dir):
    index = build_report(run_dir)
    text = index.read_text(encoding="utf-8")
    assert "<script>window.PWNED" not in text and "&lt;script&gt;window.PWNED" in text
    assert "<b>bold</b>" not in text and "missing &lt;b&gt;bold&lt;/b&gt;" in text
    assert "http://" not in text and "https://" not in text  # no CDN, no network
    reader = _DomReader()
    reader.feed(text)
    assert reader.scripts == 1  # only the report's own script
    thumbs = sorted(p.name for p in (index.parent / "thumbs").iterdir())
    assert thumbs == ["k_a.jpg", "k_b.jpg", "k_c.jpg", "k_d.jpg", "k_e.jpg"]
    # the run's overlay is used (red), the PNG source is drawn on (bright), the rest on dark
    assert cv2.imread(str(index.parent / "thumbs" / "k_a.jpg"))[..., 2].mean() > 200
    bright = cv2.imread(str(index.parent / "overlays" / "k_c.png"), cv2.IMREAD_GRAYSCALE)
    dark = cv2.imread(str(index.parent / "overlays" / "k_e.png"), cv2.IMREAD_GRAYSCALE)
    assert bright[-5:, :5].mean() > 150 > 60 > dark[-5:, :5].mean()
    assert "broken.json" in text and "truncated pixel data" in text
    assert "missing L1 L2" in text  # the flags dict of k_b, named by the postprocessor


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make browser)")
def test_report_in_headless_chromium(run_dir, tmp_path):
    assert cli_main(["report", "--run", str(run_dir)]) == 0
    index = run_dir / "report" / "index.html"

    dom = _dom(index, "", tmp_path)
    assert [key for key, _ in dom.cards[:2]] == ["k_d", "k_b"]  # flagged first, then by path
    assert [flagged for _, flagged in dom.cards] == [True, True, False, False, False]
    assert dom.rows == ["k_d", "k_a", "k_b", "k_c", "k_e"]  # by path ("<" first) unsorted
    assert dom.metrics["segm/AP"] == "71.23" and dom.metrics["segm/AP-S1"] == "80.00"
    assert dom.metrics["labelmap/mean_iou"] == "0.81"
    assert dom.sorted == {}

    # The page's own JS sorts when the address asks (what a header click does and records).
    dom = _dom(index, "#sort=lordosis_deg:desc", tmp_path)
    assert dom.rows == ["k_c", "k_e", "k_a", "k_d", "k_b"]  # 61.5, 52, 48, 35.25, empty last
    assert dom.sorted == {"lordosis_deg": "descending"}
    dom = _dom(index, "#sort=listhesis:asc", tmp_path)
    assert dom.rows == ["k_e", "k_a", "k_b", "k_c", "k_d"]
    assert dom.sorted == {"listhesis": "ascending"}

    shot = tmp_path / "report.png"
    _chromium([f"--screenshot={shot}", "--window-size=1200,900",
               "--hide-scrollbars", index.resolve().as_uri()], tmp_path)
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (900, 1200)
    assert image.std() > 20  # rendered content, not a blank page


def test_default_run_names_keys_withholds_burned_in_pixels_and_says_the_spacing(tmp_path):
    """A default run (no paths in its records): the report names images by key, finds the
    sources through the private linkage, draws burned-in images on a blank canvas unless
    asked, flags them, and says which pixel spacing the mm values use."""
    from lumbarseg.inference.writers import OutputFolder

    rng = np.random.default_rng(2)
    run, root = tmp_path / "run", tmp_path / "Doe_John_12345"  # folders name patients
    (run / "per_image").mkdir(parents=True)
    root.mkdir()
    records = []
    for key, burned in (("k_plain", False), ("k_burned", True)):
        record = _record(key, f"{key}.png", ["L4", "L5", "S1"], {}, 40.0, 1.0, rng)
        del record["relative_path"]
        record["pixel_spacing_source"] = "ImagerPixelSpacing / magnification 1.1"
        record["source"] = {"format": "dicom", "burned_in_annotation": True} if burned else {}
        records.append(record)
        (run / "per_image" / f"{key}.json").write_text(json.dumps(record))
        cv2.imwrite(str(root / f"{key}.png"), np.full((H, W), 220, np.uint8))
    OutputFolder(run).write_linkage(
        {"image_key": r["image_key"], "relative_path": f"{r['image_key']}.png",
         "source_path": str(root / f"{r['image_key']}.png")} for r in records)
    (run / "run.json").write_text(json.dumps({"failures": [{"key": "k_gone", "reason": "x"}]}))

    index = build_report(run)
    text = index.read_text(encoding="utf-8")
    assert "Doe_John" not in text and str(root) not in text
    assert "k_gone" in text  # failures by key
    reader = _DomReader()
    reader.feed(text)
    assert reader.cards[0] == ("k_burned", True)  # flagged (burned-in), so shown first
    assert "burned_in_annotation" in text and "pixels withheld" in text
    assert "mm from" in text and "ImagerPixelSpacing / magnification 1.1" in text

    def corner(folder: Path, key: str) -> float:
        image = cv2.imread(str(folder / "overlays" / f"{key}.png"), cv2.IMREAD_GRAYSCALE)
        return float(image[-5:, :5].mean())

    assert corner(index.parent, "k_plain") > 150 > 60 > corner(index.parent, "k_burned")
    shown = build_report(run, tmp_path / "shown", show_burned_in=True)
    assert corner(shown.parent, "k_burned") > 150

"""convert, phantom, export-seg and report show a tqdm bar on a terminal, and nothing extra
otherwise."""

from __future__ import annotations

import io
import sys

from lumbarseg.cli import main


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_phantom_and_convert_bars_on_a_terminal(tmp_path, monkeypatch, capsys):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["phantom", "--out", str(tmp_path / "ph"), "--n", "3", "--size", "128"]) == 0
    assert "phantom: 100%" in terminal.getvalue() and "3/3" in terminal.getvalue()
    assert main(["convert", "--from", "coco", str(tmp_path / "ph" / "annotations.json"),
                 "--out", str(tmp_path / "coco")]) == 0
    assert "convert: " in terminal.getvalue() and "3img" in terminal.getvalue().replace(" ", "")
    capsys.readouterr()


def test_no_bar_when_not_a_terminal(tmp_path, capsys):
    assert main(["phantom", "--out", str(tmp_path / "ph"), "--n", "1", "--size", "128"]) == 0
    assert main(["convert", "--from", "coco", str(tmp_path / "ph" / "annotations.json"),
                 "--out", str(tmp_path / "coco")]) == 0
    assert "%|" not in capsys.readouterr().err


def _small_run(tmp_path) -> str:
    """A run folder of three records without vertebrae (nothing to draw or export)."""
    from lumbarseg.inference.writers import OutputFolder

    run = OutputFolder(tmp_path / "run")
    rows = []
    for i in range(3):
        key = f"k{i}"
        run.write_record({"image_key": key, "image_id": i + 1, "height": 16, "width": 12,
                          "vertebrae": [], "flags": {}, "measurements": {}})
        rows.append({"image_key": key, "relative_path": f"{key}.dcm",
                     "source_path": str(tmp_path / f"{key}.dcm")})
    run.write_linkage(rows)
    return str(run.root)


def test_export_seg_and_report_bars_on_a_terminal_only(tmp_path, monkeypatch, capsys):
    run = _small_run(tmp_path)
    assert main(["export-seg", "--run", run]) == 0
    assert main(["report", "--run", run]) == 0
    assert "%|" not in capsys.readouterr().err  # not a terminal: no bar
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["export-seg", "--run", run]) == 0
    assert main(["report", "--run", run]) == 0
    text = terminal.getvalue()
    assert "export-seg: 100%" in text and "report: 100%" in text and "3/3" in text
    assert main(["report", "--run", run, "--quiet"]) == 0
    assert text == terminal.getvalue()  # --quiet: no bar even on a terminal
    capsys.readouterr()

"""convert and phantom show a tqdm bar on a terminal, and nothing extra otherwise."""

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

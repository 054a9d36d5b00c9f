"""Every option says what it does; the top-level help speaks to users; --keep-phi's help
names exactly what the code copies."""

from __future__ import annotations

import argparse
import importlib

import pytest

from lumbarseg.cli import COMMANDS, build_parser, main


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    _, subs = build_parser()
    for name, (module, _) in COMMANDS.items():
        importlib.import_module(module).add_arguments(subs[name])
    return subs


def _help(parser: argparse.ArgumentParser, option: str) -> str:
    return next(a.help for a in parser._actions if option in a.option_strings)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_option_has_help(command):
    parser = _subparsers()[command]
    missing = [a.option_strings or [a.dest] for a in parser._actions if not a.help]
    assert not missing, f"{command}: no help for {missing}"


def test_top_level_help_describes_the_tool(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "lumbar vertebrae" in text and "radiographs" in text
    assert "module" not in text and "``" not in text  # not the developer docstring


def test_infer_keep_phi_help_names_every_copied_tag():
    from lumbarseg.io.dicom import PHI_KEYWORDS

    text = " ".join(_help(_subparsers()["infer"], "--keep-phi").split())
    uids = {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"}
    for keyword in PHI_KEYWORDS:
        spelled = keyword if keyword not in uids else keyword.replace("InstanceUID", "")
        assert spelled in text, keyword
    assert "summary.csv" in text and "per_image" in text
    assert "summary.csv columns" in text


def test_label_workers_help_matches_the_default():
    text = _help(_subparsers()["infer"], "--label-workers")
    # 0 runs labelling inline in the main process, not in threads (run._finisher_pool)
    assert "main process" in text and "threads" not in text

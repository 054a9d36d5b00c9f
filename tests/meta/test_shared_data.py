"""The rule for the ../shared/data samples: skip with a reason locally, fail under CI."""

from __future__ import annotations

import pytest

from tests.helpers import shared_data


@pytest.fixture
def empty_shared(tmp_path, monkeypatch):
    monkeypatch.setattr(shared_data, "SHARED_DATA", tmp_path)
    return tmp_path


def _outcome(*args) -> tuple[type, str]:
    """The pytest outcome a call raises (a skip must not pass as a skip of this test)."""
    with pytest.raises(BaseException) as info:
        shared_data.require_shared_data(*args)
    return info.type, str(info.value)


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_missing_sample_fails_under_ci(empty_shared, monkeypatch, value):
    monkeypatch.setenv("CI", value)
    kind, message = _outcome("buu-lspine-sample")
    assert kind is pytest.fail.Exception and "CI is set" in message


@pytest.mark.parametrize("value", [None, "", "0", "false"])
def test_missing_sample_skips_with_its_path_outside_ci(empty_shared, monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    kind, message = _outcome("buu-lspine-sample")
    assert kind is pytest.skip.Exception
    assert str(empty_shared / "buu-lspine-sample") in message


def test_present_sample_is_returned_in_and_out_of_ci(empty_shared, monkeypatch):
    (empty_shared / "buu-lspine-sample").mkdir()
    (empty_shared / "buu-lspine-sample" / "0001.csv").write_text("x")
    monkeypatch.setenv("CI", "1")
    assert shared_data.require_shared_data("buu-lspine-sample", "0001.csv") == (
        empty_shared / "buu-lspine-sample")
    # the marker file decides, not the folder
    assert _outcome("buu-lspine-sample", "0002.csv")[0] is pytest.fail.Exception

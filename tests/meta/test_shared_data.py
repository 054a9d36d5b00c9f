"""The rule for the ../shared/data samples: skip with a reason locally, fail under CI."""

from __future__ import annotations

import pytest

from tests.helpers import shared_data


@pytest.fixture
def empty_shared(tmp_path, monkeypatch):
    monkeypatch.setattr(shared_data, "SHARED_DATA", tmp_path)
    return tmp_path


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_missing_sample_fails_under_ci(empty_shared, monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        shared_data.require_shared_data("buu-lspine-sample")


@pytest.mark.parametrize("value", [None, "", "0", "false"])
def test_missing_sample_skips_with_its_path_outside_ci(empty_shared, monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="buu-lspine-sample"):
        shared_data.require_shared_data("buu-lspine-sample")


def test_present_sample_is_returned_in_and_out_of_ci(empty_shared, monkeypatch):
    (empty_shared / "buu-lspine-sample").mkdir()
    (empty_shared / "buu-lspine-sample" / "0001.csv").write_text("x")
    monkeypatch.setenv("CI", "1")
    assert shared_data.require_shared_data("buu-lspine-sample", "0001.csv") == (
        empty_shared / "buu-lspine-sample")
    with pytest.raises(pytest.fail.Exception):  # the marker file decides, not the folder
        shared_data.require_shared_data("buu-lspine-sample", "0002.csv")

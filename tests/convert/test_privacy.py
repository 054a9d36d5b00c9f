"""convert writes no paths, UIDs or patient identifiers into the shareable dataset by default,
keys patients with a per-dataset random secret, and keeps the linkage in a private folder."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import stat

import pytest

from lumbarseg.cli import main

FOLDER = "DOE_JANE_PAT-001"  # PACS exports often name folders after the patient


@pytest.fixture
def dicom_folder(tmp_path, dcm):
    folder = tmp_path / FOLDER
    folder.mkdir()
    uids = []
    for i in range(2):
        ds = dcm.make_dataset(dcm.ramp(seed=i), PixelSpacing=[0.2, 0.2])
        dcm.write(folder / f"IMG{i}.dcm", ds)
        uids.append(str(ds.SOPInstanceUID))
    return folder, uids


def _shareable_text(out) -> str:
    return "".join(p.read_text() for p in sorted(out.glob("*.json")))


def _hmac_key(secret: str, identity: str) -> str:
    return hmac.new(secret.encode(), identity.encode(), hashlib.sha256).hexdigest()[:16]


def test_default_output_is_shareable_and_linkage_private(tmp_path, dicom_folder, capsys):
    folder, uids = dicom_folder
    out = tmp_path / "out"
    assert main(["convert", "--from", "dicom", str(folder), "--out", str(out)]) == 0
    capsys.readouterr()
    text = _shareable_text(out)
    for identifier in (FOLDER, str(tmp_path), "PAT-001", "Doe", "19600101", *uids):
        assert identifier not in text, identifier
    data = json.loads((out / "annotations.json").read_text())
    assert all("source_file" not in i and "sop_instance_uid" not in i for i in data["images"])

    secret_file = out / "private" / "patient_secret.txt"
    secret = secret_file.read_text().strip()
    assert len(secret) == 64 and int(secret, 16) >= 0  # 256 random bits, hex
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    # the key is the HMAC of the patient id under this dataset's secret, nothing public
    keys = {i["patient_key"] for i in data["images"]}
    assert keys == {_hmac_key(secret, "id:PAT-001")}
    old_public = hashlib.sha256(b"lumbarseg-patient-key-v1\0id:PAT-001").hexdigest()[:16]
    assert old_public not in keys

    with open(out / "private" / "linkage.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["file_name"] for r in rows] == [i["file_name"] for i in data["images"]]
    assert {r["sop_instance_uid"] for r in rows} == set(uids)
    assert all(FOLDER in r["source_file"] for r in rows)

    # converting again into the same folder reuses the secret: the same keys
    assert main(["convert", "--from", "dicom", str(folder), "--out", str(out), "--overwrite"]) == 0
    again = json.loads((out / "annotations.json").read_text())
    assert {i["patient_key"] for i in again["images"]} == keys
    # another dataset gets another secret, so keys cannot be linked across datasets
    assert main(["convert", "--from", "dicom", str(folder), "--out", str(tmp_path / "o2")]) == 0
    other = json.loads((tmp_path / "o2" / "annotations.json").read_text())
    assert {i["patient_key"] for i in other["images"]}.isdisjoint(keys)


def test_identifiers_only_when_asked(tmp_path, dicom_folder, capsys):
    folder, uids = dicom_folder
    out = tmp_path / "out"
    private = tmp_path / "kept_elsewhere"
    secret = tmp_path / "site.secret"
    secret.write_text("my-own-site-secret-0123456789\n")
    code = main(["convert", "--from", "dicom", str(folder), "--out", str(out), "--keep-paths",
                 "--keep-uids", "--private-dir", str(private), "--patient-secret-file",
                 str(secret)])
    assert code == 0
    capsys.readouterr()
    data = json.loads((out / "annotations.json").read_text())
    assert {i["sop_instance_uid"] for i in data["images"]} == set(uids)
    assert all(FOLDER in i["source_file"] for i in data["images"])
    assert {i["patient_key"] for i in data["images"]} == {
        _hmac_key("my-own-site-secret-0123456789", "id:PAT-001")
    }
    # the private folder went where asked; the user's secret is not copied anywhere
    assert not (out / "private").exists() and (private / "linkage.csv").is_file()
    assert not (private / "patient_secret.txt").exists()


def test_a_short_secret_is_refused_in_one_line(tmp_path, dicom_folder, capsys):
    folder, _ = dicom_folder
    secret = tmp_path / "short.secret"
    secret.write_text("abc")
    code = main(["convert", "--from", "dicom", str(folder), "--out", str(tmp_path / "o"),
                 "--patient-secret-file", str(secret)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "short.secret" in err

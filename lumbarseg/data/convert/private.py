"""What a conversion keeps private: the patient-key secret, the linkage and the issue list.

The dataset folder is meant to be shared (training elsewhere, publication); everything that
leads back to a patient goes to a separate private folder (default ``OUT/private``):

- ``patient_secret.txt``: the random per-dataset secret of the ``patient_key`` HMAC, created
  on the first conversion and reused by later ones into the same folder (not written when
  the user gives the secret with ``--patient-secret-file``). Whoever has it can test
  candidate patient ids against the keys, so it never goes into the dataset.
- ``linkage.csv``: image id -> original image and annotation path, SOP Instance UID.
- ``conversion_issues.json``: every problem with the path of the file it concerns.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from pathlib import Path

from lumbarseg.errors import InputFileError
from lumbarseg.io.atomic import write_json_atomic, write_text_atomic

PRIVATE_DIR = "private"
SECRET_FILE = "patient_secret.txt"
LINKAGE_FILE = "linkage.csv"
ISSUES_FILE = "conversion_issues.json"
LINKAGE_COLUMNS = (
    "image_id", "file_name", "patient_key", "patient_key_source",
    "source_file", "source_annotation", "sop_instance_uid",
)


def read_secret_file(path: Path) -> str:
    """A user-kept secret (first line of a text file)."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"unreadable patient secret ({exc})") from None
    if len(text) < 16:
        raise InputFileError(path, "patient secret is shorter than 16 characters")
    return text


def dataset_secret(private_dir: Path) -> str:
    """The dataset's secret: the stored one, else a new random one stored owner-only."""
    path = private_dir / SECRET_FILE
    if path.is_file():
        return read_secret_file(path)
    private_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret


def write_private(private_dir: Path, linkage: list[dict], issues: list[dict]) -> None:
    """``linkage.csv`` (one row per converted image) and ``conversion_issues.json``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, LINKAGE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in linkage:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in LINKAGE_COLUMNS})
    write_text_atomic(private_dir / LINKAGE_FILE, buffer.getvalue())
    write_json_atomic(private_dir / ISSUES_FILE, issues, indent=2)
    for name in (LINKAGE_FILE, ISSUES_FILE):
        os.chmod(private_dir / name, 0o600)

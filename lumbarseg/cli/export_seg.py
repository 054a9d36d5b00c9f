"""``lumbarseg export-seg``: one DICOM SEG per DICOM radiograph of an inference run."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="output folder of `lumbarseg infer`")
    parser.add_argument(
        "--input-root",
        help="folder the run's relative paths start from (default: the one run.json names)",
    )
    parser.add_argument("--out", help="where to write the SEG files (default: RUN/seg)")
    parser.add_argument(
        "--keep-phi",
        action="store_true",
        help="copy the source's Patient and Study modules unchanged (PatientName, PatientID, "
        "PatientBirthDate, PatientSex, StudyDate, StudyTime, StudyID, AccessionNumber, "
        "ReferringPhysicianName...) so the SEG files with its patient in PACS (default: "
        "PatientName/PatientID are the image key and those attributes empty; such a SEG does "
        "not match the patient in PACS)",
    )


def run(args: argparse.Namespace) -> int:
    from lumbarseg.export.dicom_seg import export_run

    result = export_run(args.run, args.input_root, args.out, keep_phi=args.keep_phi)
    for failure in result.failures:
        print(f"lumbarseg export-seg: failed: {failure['path']}: {failure['reason']}",
              file=sys.stderr)
    print(
        f"wrote {len(result.written)} DICOM SEG file(s); skipped {len(result.skipped)}; "
        f"failed {len(result.failures)}"
        + (f"; first in {result.written[0].parent}" if result.written else "")
    )
    return 1 if result.failures else 0

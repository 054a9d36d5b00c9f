"""``lumbarseg export-seg``: one DICOM SEG per DICOM radiograph of an inference run."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="output folder of `lumbarseg infer`")
    parser.add_argument(
        "--input-root",
        help="folder the run's relative paths start from (default: the one run.json names "
        "for --keep-paths runs, else the paths in RUN/private/linkage.csv)",
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

    parser.add_argument(
        "--keep-paths",
        action="store_true",
        help="name each skipped or failed source by its path in export.json (default: by "
        "image key only; the terminal shows the paths either way)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from lumbarseg.export.dicom_seg import export_run

    result = export_run(args.run, args.input_root, args.out, keep_phi=args.keep_phi,
                        keep_paths=args.keep_paths, progress=not args.quiet)
    for failure in result.failures:
        where = failure.get("path") or failure["key"]
        print(f"lumbarseg export-seg: failed: {where}: {failure['reason']}", file=sys.stderr)
    print(
        f"wrote {len(result.written)} DICOM SEG file(s); skipped {len(result.skipped)}; "
        f"failed {len(result.failures)}"
        + (f"; first in {result.written[0].parent}" if result.written else "")
    )
    return 1 if result.failures else 0

"""The table printed after a conversion, and the same facts as JSON for the report file."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from lumbarseg.levels import LEVELS

if TYPE_CHECKING:
    from lumbarseg.data.convert.pipeline import ConversionResult


def _level_counts(result: ConversionResult, image_ids: set[int] | None = None) -> Counter:
    return Counter(
        LEVELS[a["category_id"] - 1]
        for a in result.annotations
        if image_ids is None or a["image_id"] in image_ids
    )


def report_dict(result: ConversionResult, with_issues: bool = True) -> dict:
    """Counts, patient-key sources, splits; the issues (which name source paths) only when
    ``with_issues`` (otherwise they are in the private ``conversion_issues.json``)."""
    report: dict = {
        "format": result.fmt,
        "images": len(result.images),
        "instances": dict(_level_counts(result)),
        "patient_key_sources": dict(result.patient_sources),
        "errors": len(result.errors),
        "warnings": len(result.issues) - len(result.errors),
    }
    if with_issues:
        report["issues"] = [vars(issue) for issue in result.issues]
    if result.splits is not None:
        patient = {i["id"]: i["patient_key"] for i in result.images}
        report["splits"] = {
            name: {"images": len(ids), "patients": len({patient[i] for i in ids})}
            for name, ids in result.splits.items()
        }
    return report


def format_summary(result: ConversionResult) -> str:
    """Images, instances per level (per split when split), patients, then every issue."""
    rows = [("all", None)]
    if result.splits is not None:
        rows += [(name, set(ids)) for name, ids in result.splits.items()]
    patient = {i["id"]: i["patient_key"] for i in result.images}
    header = f"{'set':<6} {'images':>6} {'patients':>8} " + " ".join(f"{lv:>4}" for lv in LEVELS)
    lines = [f"lumbarseg convert --from {result.fmt} -> {result.out_dir}", header]
    for name, ids in rows:
        ids = ids if ids is not None else set(patient)
        counts = _level_counts(result, ids)
        lines.append(
            f"{name:<6} {len(ids):>6} {len({patient[i] for i in ids}):>8} "
            + " ".join(f"{counts.get(lv, 0):>4}" for lv in LEVELS)
        )
    sources = ", ".join(f"{n} from {src}" for src, n in result.patient_sources.items())
    if sources:
        lines.append(f"patient keys: {sources}")
    errors, warnings = len(result.errors), len(result.issues) - len(result.errors)
    lines.append(f"issues: {errors} error(s) (left out), {warnings} warning(s)")
    lines += ["  " + issue.line() for issue in result.issues]
    return "\n".join(lines)

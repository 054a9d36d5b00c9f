"""Reading the output folder of ``lumbarseg infer`` (the agreed layout), for exporters.

OUT/per_image/<image_key>.json (one record per image), OUT/run.json (run summary: input root,
failures, skipped), OUT/overlays/<image_key>.png (optional), OUT/evaluation/*.json (optional).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lumbarseg.errors import LumbarsegError

# Evaluation results, in order of preference (`lumbarseg evaluate` writes the second).
EVALUATION_FILES = ("results.json", "lumbarseg_evaluation.json")


def iter_records(run_dir: str | os.PathLike) -> Iterator[tuple[Path, dict | None, str | None]]:
    """(sidecar path, record or None, problem or None) per per-image sidecar, in name order."""
    per_image = Path(run_dir) / "per_image"
    if not per_image.is_dir():
        raise LumbarsegError(f"{per_image}: no per_image folder; is this an inference output?")
    for path in sorted(per_image.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            yield path, None, f"unreadable per-image record ({' '.join(str(exc).split())})"
            continue
        if not isinstance(record, dict) or "relative_path" not in record:
            yield path, None, "per-image record lacks relative_path"
            continue
        yield path, record, None


def read_run(run_dir: str | os.PathLike) -> dict:
    """``run.json`` as a dict ({} when absent or unreadable: it is a summary, not the data)."""
    try:
        run = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return run if isinstance(run, dict) else {}


def read_input_root(run_dir: str | os.PathLike) -> Path | None:
    """The input root an inference run recorded in ``run.json``, if any."""
    run = read_run(run_dir)
    for key in ("input_root", "input", "inputs"):
        value = run.get(key)
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if isinstance(value, str) and value:
            return Path(value)
    return None


def path_reasons(entries: Any) -> list[dict]:
    """``[{path, reason}]`` from run.json's failures/skipped (a list of dicts or a dict)."""
    if isinstance(entries, dict):
        return [{"path": str(k), "reason": str(v)} for k, v in entries.items()]
    out = []
    for entry in entries or []:
        if isinstance(entry, dict):
            out.append({"path": str(entry.get("path", "")), "reason": str(entry.get("reason", ""))})
        elif isinstance(entry, (list, tuple)) and len(entry) == 2:
            out.append({"path": str(entry[0]), "reason": str(entry[1])})
    return out


def record_flags(record: dict) -> list[str]:
    """Raised flags of a record as short names, whether stored as a list or the flags dict."""
    flags = record.get("flags") or []
    if isinstance(flags, dict):
        from lumbarseg.postprocess.flags import flag_names

        return flag_names(flags)
    return [str(flag) for flag in flags]


def read_evaluation(run_dir: str | os.PathLike) -> tuple[Path, dict] | None:
    """(path, results) of the run's evaluation, if one was written into OUT/evaluation."""
    folder = Path(run_dir) / "evaluation"
    candidates = [folder / name for name in EVALUATION_FILES]
    candidates += sorted(p for p in folder.glob("*.json") if p not in candidates)
    for path in candidates:
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(results, dict):
            return path, results
    return None

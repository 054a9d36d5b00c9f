"""The static HTML report of an inference run: one folder that opens from disk, no server.

``OUT/report/index.html`` holds inline CSS/JS; ``thumbs/`` holds the gallery JPEGs and
``overlays/`` the full-size overlays the run did not write itself. Sections: run summary,
evaluation tables (when ``OUT/evaluation`` has results), a gallery with flagged images first,
a sortable table of levels, flags and measurements, and the files that failed or were skipped.
Every string from the run (file names, flags, reasons) is HTML-escaped.
"""

from __future__ import annotations

import html
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cv2

from lumbarseg import __version__
from lumbarseg.errors import one_line
from lumbarseg.inference.progress import terminal_bar
from lumbarseg.inference.writers import OutputFolder, burned_in, record_flags
from lumbarseg.io.atomic import write_text_atomic
from lumbarseg.levels import EXTENDED_LEVELS
from lumbarseg.report.assets import CSS, JS
from lumbarseg.report.thumbnails import (
    draw_record_overlay,
    safe_name,
    thumbnail,
    write_jpeg,
    write_png,
)

SEGMENT_PAIRS = ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")
_NUM_CLASS = ' class="num"'
# Cell classes of columns whose alignment is not simply "numbers right, text left".
_CELL_CLASSES = {"image": "path", "levels": "nowrap", "flags": "", "listhesis": "num nowrap"}
_LEVEL_SUFFIX = re.compile(r"^(.*)-(" + "|".join(EXTENDED_LEVELS) + r")$")


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def url(path: str | os.PathLike) -> str:
    """A relative URL of a local path, percent-encoded then attribute-escaped."""
    return esc(quote(Path(path).as_posix()))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) or math.isinf(value) else float(value)


def fmt(value: Any, digits: int = 2) -> str:
    number = _number(value)
    if number is None:
        return "n/a" if value is None or isinstance(value, float) else str(value)
    return str(int(number)) if isinstance(value, int) else f"{number:.{digits}f}"


@dataclass
class Row:
    """What the report shows of one image (the record itself is not kept: masks are large)."""

    key: str
    name: str  # the relative path when the run kept paths (--keep-paths), else the key
    levels: list[str]
    flags: list[str]
    measurements: dict
    min_confidence: float | None
    spacing_source: str | None = None  # which pixel spacing the *_mm values use
    thumb: str | None = None
    full: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class Column:
    key: str
    title: str
    numeric: bool
    cell: Callable[[Row], tuple[str, Any]]  # (cell HTML, sort value)


def _measure(path: tuple[str, ...]) -> Callable[[Row], tuple[str, Any]]:
    def cell(row: Row) -> tuple[str, Any]:
        value: Any = row.measurements
        for part in path:
            value = value.get(part) if isinstance(value, Mapping) else None
        number = _number(value)
        return (esc(fmt(number)) if number is not None else "", number)

    return cell


def _listhesis(row: Row) -> tuple[str, Any]:
    slips = row.measurements.get("listhesis") or {}
    worst = None
    for level, slip in slips.items() if isinstance(slips, Mapping) else ():
        percent = _number(slip.get("percent")) if isinstance(slip, Mapping) else None
        if percent is not None and (worst is None or abs(percent) > abs(worst[1])):
            worst = (level, percent, slip.get("grade"))
    if worst is None:
        return "", None
    level, percent, grade = worst
    text = f"{level} {percent:+.1f}%" + (f" G{grade}" if grade else "")
    return esc(text), abs(percent)


def _levels_cell(row: Row) -> tuple[str, Any]:
    return esc(" ".join(row.levels)), len(row.levels)


def _flags_cell(row: Row) -> tuple[str, Any]:
    return _badges(row.flags), len(row.flags)


def _image_cell(row: Row) -> tuple[str, Any]:
    name = esc(row.name)
    link = f'<a href="{row.full}">{name}</a>' if row.full else name
    return link, row.name


def _spacing_cell(row: Row) -> tuple[str, Any]:
    return esc(row.spacing_source or ""), row.spacing_source


def _confidence_cell(row: Row) -> tuple[str, Any]:
    value = row.min_confidence
    return (esc(fmt(value)) if value is not None else "", value)


def table_columns(rows: list[Row]) -> list[Column]:
    """Fixed columns, then measurement columns that at least one image has a value for."""
    columns = [
        Column("image", "image", False, _image_cell),
        Column("levels", "levels", False, _levels_cell),
        Column("flags", "flags", True, _flags_cell),
        Column("confidence", "min level conf.", True, _confidence_cell),
    ]
    optional = [
        Column("lordosis_deg", "lordosis (°)", True, _measure(("lordosis_deg",))),
        Column("sacral_slope_deg", "sacral slope (°)", True, _measure(("sacral_slope_deg",))),
        *[
            Column(f"segmental_{pair}", f"{pair} (°)", True,
                   _measure(("segmental_angles_deg", pair)))
            for pair in SEGMENT_PAIRS
        ],
        Column("listhesis", "max slip", True, _listhesis),
        Column("spacing", "mm from", False, _spacing_cell),
    ]
    return columns + [c for c in optional if any(c.cell(row)[1] is not None for row in rows)]


def _badges(flags: Iterable[str]) -> str:
    """One badge per flag; the missing_<level> flags share one badge ("missing L1 L2")."""
    flags = list(flags)
    if not flags:
        return '<span class="badge ok">no flags</span>'
    missing = [f.removeprefix("missing_") for f in flags if f.startswith("missing_")]
    shown = [f for f in flags if not f.startswith("missing_")]
    shown += ["missing " + " ".join(missing)] if missing else []
    return "".join(f'<span class="badge">{esc(flag)}</span>' for flag in shown)


def _row_from_record(record: dict, sidecar: Path) -> Row:
    vertebrae = record.get("vertebrae") or []
    confidences = [_number(v.get("level_confidence")) for v in vertebrae]
    confidences = [c for c in confidences if c is not None]
    measurements = record.get("measurements")
    key = str(record.get("image_key") or sidecar.stem)
    return Row(
        key=key,
        name=str(record.get("relative_path") or key),
        spacing_source=record.get("pixel_spacing_source") if record.get("pixel_spacing_mm")
        else None,
        levels=[str(v.get("level")) for v in vertebrae if v.get("level")],
        flags=record_flags(record),
        measurements=measurements if isinstance(measurements, dict) else {},
        min_confidence=min(confidences) if confidences else None,
    )


def _make_gallery_images(
    row: Row, record: dict, folder: OutputFolder, out: Path, source: Path | None,
    show_burned_in: bool = False,
) -> None:
    """Thumbnail (and full overlay when the run has none) of one image; problems noted.

    Pixels with burned-in text are left out (the overlay is drawn on a blank canvas, and the
    run's own overlay, which may show them, is not used) unless ``show_burned_in``."""
    name = safe_name(row.key)
    thumb_path = out / "thumbs" / f"{name}.jpg"
    run_overlay = folder.overlay_path(row.key)
    withhold = burned_in(record) and not show_burned_in
    if withhold:
        source = None
        row.problems.append("pixels withheld: burned-in annotation (report --show-burned-in)")
    try:
        image = (cv2.imread(str(run_overlay), cv2.IMREAD_COLOR)
                 if run_overlay.is_file() and not withhold else None)
        if image is not None:
            row.full = url(os.path.relpath(run_overlay, out))
        else:
            image = draw_record_overlay(record, row.flags, source)
            write_png(out / "overlays" / f"{name}.png", image)
            row.full = url(f"overlays/{name}.png")
        write_jpeg(thumb_path, thumbnail(image))
        row.thumb = url(f"thumbs/{name}.jpg")
    except Exception as exc:  # a broken image must not lose the whole report
        row.problems.append(f"no overlay: {one_line(exc)}")


def _gallery(rows: list[Row]) -> str:
    ordered = sorted(rows, key=lambda r: (not r.flags, r.name))
    cards = []
    for row in ordered:
        image = (
            f'<a class="thumb" href="{row.full}"><img loading="lazy" src="{row.thumb}" '
            f'alt="overlay of {esc(row.name)}"></a>'
            if row.thumb
            else ""
        )
        extra = "".join(f'<div class="note">{esc(p)}</div>' for p in row.problems)
        cards.append(
            f'<figure class="card{" flagged" if row.flags else ""}" data-key="{esc(row.key)}">'
            f"{image}<figcaption><div class=\"name\">{esc(row.name)}</div>"
            f"<div>{esc(' '.join(row.levels)) or 'no vertebrae'}</div>"
            f"{_badges(row.flags)}{extra}</figcaption></figure>"
        )
    return f'<div class="gallery" id="gallery">{"".join(cards)}</div>'


def _cell_class(column: Column) -> str:
    return _CELL_CLASSES.get(column.key, "num" if column.numeric else "")


def _results_table(rows: list[Row]) -> str:
    columns = table_columns(rows)
    head = "".join(
        f'<th data-key="{esc(c.key)}" data-type="{"number" if c.numeric else "text"}"'
        f'{_NUM_CLASS if _cell_class(c).startswith("num") else ""}>{esc(c.title)}</th>'
        for c in columns
    )
    body = []
    for row in sorted(rows, key=lambda r: r.name):
        cells = []
        for column in columns:
            content, sort = column.cell(row)
            sort_text = "" if sort is None else (repr(sort) if column.numeric else str(sort))
            classes = _cell_class(column)
            classes += " na" if sort is None else ""
            cells.append(
                f'<td class="{classes.strip()}" data-sort="{esc(sort_text)}">{content}</td>'
            )
        body.append(f'<tr data-key="{esc(row.key)}">{"".join(cells)}</tr>')
    return (
        '<div class="tablewrap"><table id="results" class="sortable">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        '<p class="note">Click a column header to sort; the address (#sort=column:asc|desc) '
        "keeps the order.</p>"
    )


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix} / {key}" if prefix else str(key), item, out)
    elif not isinstance(value, (list, tuple)):
        out[prefix] = value


def _evaluation(results: Mapping[str, Any], source: str) -> str:
    """One table per section: overall metrics, and per-level metrics as a level matrix."""
    parts = [f'<p class="note">From {esc(source)}.</p><div class="evalgrid">']
    sections: dict[str, Any] = {}
    loose: dict[str, Any] = {}
    for name, content in results.items():
        if isinstance(content, Mapping):
            sections[str(name)] = content
        else:
            _flatten(str(name), content, loose)
    if loose:
        sections = {"summary": loose, **sections}
    for name, content in sections.items():
        flat: dict[str, Any] = {}
        _flatten("", content, flat)
        overall = {k: v for k, v in flat.items() if not _LEVEL_SUFFIX.match(k)}
        per_level: dict[str, dict[str, Any]] = {}
        for key, value in flat.items():
            match = _LEVEL_SUFFIX.match(key)
            if match:
                per_level.setdefault(match.group(1), {})[match.group(2)] = value
        parts.append(f'<div class="evalsection"><h3>{esc(name)}</h3>')
        if overall:
            rows = "".join(
                f'<tr><td>{esc(k)}</td><td class="num" data-metric="{esc(name)}/{esc(k)}">'
                f"{esc(fmt(v))}</td></tr>"
                for k, v in overall.items()
            )
            parts.append(
                f'<table class="eval" data-section="{esc(name)}"><thead><tr><th>metric</th>'
                f'<th class="num">value</th></tr></thead><tbody>{rows}</tbody></table>'
            )
        if per_level:
            levels = [lv for lv in EXTENDED_LEVELS if any(lv in v for v in per_level.values())]
            head = "".join(f'<th class="num">{esc(lv)}</th>' for lv in levels)
            rows = "".join(
                f"<tr><td>{esc(metric)}</td>"
                + "".join(
                    f'<td class="num" data-metric="{esc(name)}/{esc(metric)}-{lv}">'
                    f"{esc(fmt(values.get(lv)))}</td>"
                    for lv in levels
                )
                + "</tr>"
                for metric, values in per_level.items()
            )
            parts.append(
                f'<table class="eval" data-section="{esc(name)}-levels"><thead><tr>'
                f"<th>per level</th>{head}</tr></thead><tbody>{rows}</tbody></table>"
            )
        parts.append("</div>")
    return "".join(parts) + "</div>"


def _path_reason_table(entries: list[dict], table_id: str) -> str:
    """Failed or skipped files, by path when the run kept paths, else by image key."""
    rows = "".join(
        f'<tr><td class="path">{esc(e.get("path") or e.get("key", ""))}</td>'
        f'<td>{esc(e.get("reason", ""))}</td></tr>'
        for e in entries
    )
    return (
        f'<div class="tablewrap"><table id="{table_id}"><thead><tr><th>file</th><th>reason</th>'
        f"</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _stat(value: Any, label: str) -> str:
    return f'<div class="stat"><b>{esc(value)}</b><span>{esc(label)}</span></div>'


def render(
    rows: list[Row],
    run: Mapping[str, Any],
    evaluation: tuple[Path, dict] | None,
    title: str,
) -> str:
    failures = list(run.get("failures") or [])
    skipped = list(run.get("skipped") or [])
    flagged = sum(1 for r in rows if r.flags)
    stats = (
        _stat(len(rows), "images")
        + _stat(flagged, "with flags")
        + _stat(sum(1 for r in rows if not r.levels), "no vertebrae")
        + _stat(len(failures), "failed")
        + _stat(len(skipped), "skipped")
    )
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [f'<div class="summary">{stats}</div>']
    if evaluation is not None:
        body += ['<h2 id="evaluation">Evaluation</h2>', _evaluation(evaluation[1],
                                                                     evaluation[0].name)]
    body += [
        f'<h2 id="images">Images <span class="note">({flagged} flagged'
        + (", shown first" if flagged else "") + ")</span></h2>",
        _gallery(rows) if rows else '<p class="note">No images.</p>',
        '<h2 id="table">Levels, flags and measurements</h2>',
        _results_table(rows),
    ]
    if failures:
        body += ['<h2 id="failures">Failed files</h2>', _path_reason_table(failures, "failures")]
    if skipped:
        body += ['<h2 id="skipped">Skipped files</h2>', _path_reason_table(skipped, "skipped")]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>lumbarseg {esc(__version__)} · {esc(created)} · "
        "automatic labels, not for clinical use</p></header>"
        f"<main>{''.join(body)}</main><script>{JS}</script></body></html>\n"
    )


def build_report(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    *,
    input_root: str | os.PathLike | None = None,
    title: str = "lumbarseg report",
    show_burned_in: bool = False,
    progress: bool = False,
) -> Path:
    """Write the report of an inference run; returns the path of ``index.html``.

    Records are read one at a time and only their table fields are kept, so a large run does
    not hold every mask in memory. Source images (for overlays the run lacks) are found
    through ``OutputFolder.source_path``; names in the report are what the records carry.
    """
    run_dir = Path(run_dir)
    folder = OutputFolder(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    linkage = folder.linkage()
    rows: list[Row] = []
    broken: list[dict] = []
    records = terminal_bar(folder.records(), "report", progress, folder.record_count())
    for sidecar, record, problem in records:
        if record is None:
            broken.append({"path": f"{folder.per_image.name}/{sidecar.name}", "reason": problem})
            continue
        row = _row_from_record(record, sidecar)
        source = folder.source_path(record, input_root, linkage)
        _make_gallery_images(row, record, folder, out, source, show_burned_in)
        rows.append(row)
    run = folder.read_run()
    if broken:
        run["failures"] = list(run.get("failures") or []) + broken
    index = out / "index.html"
    write_text_atomic(index, render(rows, run, folder.evaluation(), title))
    return index

"""BUU-LSPINE endplate CSVs (lateral view): one CSV per image, no header, 11 rows
``x1,y1,x2,y2,label`` - rows 0-9 the superior and inferior endplates of L1..L5, row 10 the
superior endplate of S1; (x1, y1) is the image-left (anterior: lateral films face left) end.

A body is the quadrilateral of its two endplates. S1 has only its superior endplate, so its
body is that endplate swept perpendicular to it, away from L5, by ``sacral_depth`` times the
endplate length. A non-zero ``label`` (listhesis flag) is kept as an annotation attribute.
The image is ``<csv stem>.<png|jpg|...>`` in ``--images`` or next to the CSV; without one, the
size must come from ``--image-size`` (geometry only).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lumbarseg.data.convert.records import (
    ConvertOptions,
    RawImage,
    RawInstance,
    ReadResult,
    expand_inputs,
    find_image,
)
from lumbarseg.errors import InputFileError, LumbarsegError
from lumbarseg.levels import LEVELS

ROWS = 11
_PATIENT = re.compile(r"^(\d+)-[MF]-", re.IGNORECASE)


def parse_csv(path: Path) -> np.ndarray:
    """(11, 5) float array of the endplate rows; a one-line error for any malformed file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"unreadable CSV ({exc})") from None
    if len(rows) != ROWS:
        raise InputFileError(path, f"expected {ROWS} rows x1,y1,x2,y2,label, found {len(rows)}")
    values = np.zeros((ROWS, 5))
    for number, row in enumerate(rows):
        if len(row) != 5:
            raise InputFileError(path, f"row {number + 1}: expected 5 values, found {len(row)}")
        try:
            values[number] = [float(cell) for cell in row]
        except ValueError:
            raise InputFileError(path, f"row {number + 1}: non-numeric value in {row}") from None
        if not np.all(np.isfinite(values[number])):
            raise InputFileError(path, f"row {number + 1}: non-finite value")
    return values


def s1_corners(endplate: np.ndarray, above: np.ndarray, depth: float) -> list[list[float]]:
    """S1 body corners: its superior endplate swept ``depth`` x its length away from ``above``
    (a point of the vertebra above, L5)."""
    anterior, posterior = endplate[:2], endplate[2:4]
    direction = posterior - anterior
    length = float(np.hypot(*direction))
    normal = np.array([-direction[1], direction[0]]) / max(length, 1e-9)
    if np.dot(normal, (anterior + posterior) / 2 - above) < 0:
        normal = -normal
    offset = normal * depth * length
    return [
        list(map(float, p)) for p in (anterior, posterior, posterior + offset, anterior + offset)
    ]


def instances(values: np.ndarray, sacral_depth: float) -> list[RawInstance]:
    """Six instances L1..S1 with corners (superior-anterior, superior-posterior,
    inferior-posterior, inferior-anterior), as the phantom format orders them."""
    result = []
    for index, level in enumerate(LEVELS[:5]):
        superior, inferior = values[2 * index], values[2 * index + 1]
        corners = [superior[0:2], superior[2:4], inferior[2:4], inferior[0:2]]
        flags = {"listhesis_flag": int(superior[4] or inferior[4])}
        result.append(_instance(level, [list(map(float, c)) for c in corners], flags))
    l5_centre = values[8:10, :4].reshape(-1, 2).mean(axis=0)
    corners = s1_corners(values[10, :4], l5_centre, sacral_depth)
    result.append(_instance("S1", corners, {"listhesis_flag": int(values[10, 4])}))
    return result


def _instance(level: str, corners: list[list[float]], flags: dict) -> RawInstance:
    return RawInstance(
        label=level,
        polygons=[[v for c in corners for v in c]],
        corners=corners,
        attributes=flags if any(flags.values()) else {},
    )


def read(inputs: list[Path], options: ConvertOptions) -> Iterator[ReadResult]:
    if not (options.sacral_depth > 0 and math.isfinite(options.sacral_depth)):
        raise LumbarsegError(f"--sacral-depth must be positive, got {options.sacral_depth}")
    for path in expand_inputs(inputs, (".csv",)):
        if isinstance(path, InputFileError):
            yield path
            continue
        try:
            values = parse_csv(path)
        except InputFileError as exc:
            yield exc
            continue
        dirs = ([options.images_dir] if options.images_dir else []) + [path.parent]
        image_path, searched = find_image(path.stem, dirs)
        match = _PATIENT.match(path.stem)
        yield RawImage(
            where=str(path),
            image_path=image_path,
            instances=instances(values, options.sacral_depth),
            patient_hint=f"buu:{match.group(1)}" if match else f"buu:{path.stem}",
            searched=searched,
        )

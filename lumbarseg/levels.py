"""The vertebral levels lumbarseg labels, and the one place their names and ids live.

COCO category ids are 1..6 in anatomical order (L1 at the top, S1 at the bottom);
Detectron2's contiguous ids are the same order starting at 0.
"""

from __future__ import annotations

import re

LEVELS: tuple[str, ...] = ("L1", "L2", "L3", "L4", "L5", "S1")
NUM_LEVELS = len(LEVELS)
# Labels the postprocessor may emit beyond the six trained classes, when the anatomy says so.
EXTRA_LEVELS: tuple[str, ...] = ("T11", "T12", "L6")
# Every body the labeller names, top to bottom: T11, T12, L1..L5, a supernumerary L6, S1 (bodies
# above T11 are left unlabelled as thoracic). The one anatomical order for sorting levels.
EXTENDED_LEVELS: tuple[str, ...] = ("T11", "T12", "L1", "L2", "L3", "L4", "L5", "L6", "S1")

COCO_CATEGORIES: list[dict] = [
    {"id": i + 1, "name": name, "supercategory": "vertebra"} for i, name in enumerate(LEVELS)
]
# Distinct, colour-blind-friendly colours (RGB) for overlays and Detectron2 metadata.
LEVEL_COLORS: tuple[tuple[int, int, int], ...] = (
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (204, 121, 167),
    (86, 180, 233),
    (213, 94, 0),
)

_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5}
_ALIAS_WORDS = {"lumbar": "L", "lumb": "L", "sacral": "S", "sacrum": "S1", "sacra": "S", "s": "S"}


def category_id(level: str) -> int:
    """COCO category id (1..6) of a level name."""
    return LEVELS.index(level) + 1


def level_name(category: int) -> str:
    """Level name of a COCO category id (1..6)."""
    if not 1 <= category <= NUM_LEVELS:
        raise ValueError(f"category id {category} is not one of 1..{NUM_LEVELS}")
    return LEVELS[category - 1]


def level_rank(level: str) -> int:
    """Position of a level in the anatomical order (top first); unknown names sort last."""
    return EXTENDED_LEVELS.index(level) if level in EXTENDED_LEVELS else len(EXTENDED_LEVELS)


def normalize_level(label: str) -> str | None:
    """Map a label spelling ("l1", "L-1", "Lumbar 1", "S1 ", "sacrum", "L V") to a level.

    Returns None when the spelling is not a known level, so callers decide whether an
    unknown label is an error or something to drop.
    """
    text = label.strip().lower()
    if text in ("sacrum", "sacral", "s", "s1", "s 1", "sacrum1"):
        return "S1"
    text = re.sub(r"[\s_\-.:]+", " ", text).strip()
    match = re.fullmatch(r"(lumbar|lumb|l|sacral|sacra|s|thoracic|th|t)\s*(\d+|i{1,3}|iv|v)", text)
    if not match:
        return None
    prefix, number = match.groups()
    value = int(number) if number.isdigit() else _ROMAN[number]
    letter = {"lumbar": "L", "lumb": "L", "l": "L", "sacral": "S", "sacra": "S", "s": "S"}.get(
        prefix, "T"
    )
    name = f"{letter}{value}"
    return name if name in LEVELS or name in EXTRA_LEVELS else None

"""Polygon checks with shapely: what a COCO annotation may contain, and what gets repaired.

Self-intersecting polygons (a mis-ordered corner, a bow-tie) are repaired with ``make_valid``
and reported, or refused when repair is off; degenerate, tiny and out-of-image polygons are
reported and dropped; parts outside the image are clipped away and reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from shapely import make_valid
from shapely.geometry import GeometryCollection, MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry


class PolygonError(ValueError):
    """This instance cannot become a COCO polygon (dropped and reported); says why."""


class InvalidPolygonError(PolygonError):
    """A self-intersecting polygon while repair is off: the whole image is refused."""


@dataclass
class CleanShape:
    polygons: list[list[float]]
    area: float
    bbox: list[float]  # x, y, width, height
    warnings: list[str] = field(default_factory=list)


def _parts(geometry: BaseGeometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [geometry] if not geometry.is_empty else []
    if isinstance(geometry, (MultiPolygon, GeometryCollection)):
        return [p for g in geometry.geoms for p in _parts(g)]
    return []  # points and lines have no area


def _flat(polygon: Polygon) -> list[float]:
    coords = list(polygon.exterior.coords)[:-1]  # shapely repeats the first point
    return [round(float(v), 2) for xy in coords for v in xy]


def clean_polygons(
    polygons: list[list[float]],
    width: int,
    height: int,
    min_area: float = 16.0,
    repair: bool = True,
) -> CleanShape:
    """Validate one instance's polygons against an image of ``width`` x ``height``."""
    warnings: list[str] = []
    pieces: list[Polygon] = []
    for flat in polygons:
        if len(flat) % 2 or not all(isinstance(v, (int, float)) for v in flat):
            raise PolygonError("polygon coordinates are not x,y number pairs")
        if not all(math.isfinite(v) for v in flat):
            raise PolygonError("polygon has non-finite coordinates")
        points = list(zip(flat[0::2], flat[1::2], strict=True))
        if len(set(points)) < 3:
            raise PolygonError(f"degenerate polygon ({len(set(points))} distinct points)")
        polygon = Polygon(points)
        if not polygon.is_valid:
            if not repair:
                raise InvalidPolygonError("self-intersecting polygon (repair is off)")
            polygon = make_valid(polygon)
            warnings.append("self-intersecting polygon repaired with make_valid")
        pieces.extend(_parts(polygon))
    if not pieces or sum(p.area for p in pieces) <= 0:
        raise PolygonError("degenerate polygon (zero area)")
    total = sum(p.area for p in pieces)
    frame = box(0, 0, width, height)
    inside = [q for p in pieces for q in _parts(p.intersection(frame))]
    kept_area = sum(p.area for p in inside)
    if kept_area <= 0:
        raise PolygonError(f"polygon lies outside the {width}x{height} image")
    if kept_area < total - 1e-6:
        warnings.append(f"clipped to the image ({100 * (1 - kept_area / total):.1f} % outside)")
    if kept_area < min_area:
        raise PolygonError(f"tiny polygon (area {kept_area:.1f} px^2 < {min_area:g})")
    minx = min(p.bounds[0] for p in inside)
    miny = min(p.bounds[1] for p in inside)
    maxx = max(p.bounds[2] for p in inside)
    maxy = max(p.bounds[3] for p in inside)
    flats = [_flat(p) for p in inside if p.area > 0]
    return CleanShape(
        polygons=flats,
        area=round(float(kept_area), 2),
        bbox=[round(float(v), 2) for v in (minx, miny, maxx - minx, maxy - miny)],
        warnings=warnings,
    )

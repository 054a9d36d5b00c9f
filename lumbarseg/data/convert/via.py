"""VGG Image Annotator 2 JSON: a project file (``_via_img_metadata``) or a region export.

VIA stores no image dimensions (``size`` is the file size in bytes), so the image file must
be found: in ``--images``, else next to the JSON or in the project's default path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lumbarseg.data.convert.records import (
    ConvertOptions,
    RawImage,
    RawInstance,
    ReadResult,
    ellipse,
    expand_inputs,
    find_image,
    load_json,
    rectangle,
)
from lumbarseg.errors import InputFileError

_LABEL_KEYS = ("label", "level", "vertebra", "class", "name", "type", "category")


def _label(attributes: dict, key: str | None) -> str | None:
    """The level label of a region (a text value, or the ticked option of a checkbox)."""
    if key is not None:
        value = attributes.get(key)
    elif len(attributes) == 1:
        value = next(iter(attributes.values()))
    else:
        lowered = {k.lower(): v for k, v in attributes.items()}
        value = next((lowered[k] for k in _LABEL_KEYS if k in lowered), None)
    if isinstance(value, dict):  # checkbox: {"L3": true}
        ticked = [k for k, v in value.items() if v]
        value = ticked[0] if len(ticked) == 1 else None
    return None if value is None or str(value).strip() == "" else str(value)


def _polygon(shape: dict) -> list[float] | None:
    name = shape.get("name")
    if name in ("polygon", "polyline"):
        xs, ys = shape.get("all_points_x", []), shape.get("all_points_y", [])
        if len(xs) != len(ys):
            raise ValueError("all_points_x and all_points_y differ in length")
        return [float(v) for xy in zip(xs, ys, strict=True) for v in xy]
    if name == "rect":
        x, y = float(shape["x"]), float(shape["y"])
        return rectangle(x, y, x + float(shape["width"]), y + float(shape["height"]))
    if name == "ellipse":
        return ellipse(
            float(shape["cx"]),
            float(shape["cy"]),
            float(shape["rx"]),
            float(shape["ry"]),
            float(shape.get("theta", 0.0)),
        )
    if name == "circle":
        r = float(shape["r"])
        return ellipse(float(shape["cx"]), float(shape["cy"]), r, r)
    return None  # point: no area


def _entries(data: object, path: Path) -> tuple[dict, list[Path]]:
    if not isinstance(data, dict):
        raise InputFileError(path, "not a VIA project or region JSON (top level is not an object)")
    extra_dirs: list[Path] = []
    if "_via_img_metadata" in data:
        default = str(data.get("_via_settings", {}).get("core", {}).get("default_filepath", ""))
        if default and "://" not in default:
            extra_dirs.append(Path(default))
        data = data["_via_img_metadata"]
    elif "_via_data_format_version" in data or "project" in data and "file" in data:
        raise InputFileError(path, "VIA 3 project files are not supported; export VIA 2 JSON")
    if not isinstance(data, dict) or not all(
        isinstance(v, dict) and "filename" in v for v in data.values()
    ):
        raise InputFileError(path, "not a VIA 2 project or region JSON (entries lack 'filename')")
    return data, extra_dirs


def read(inputs: list[Path], options: ConvertOptions) -> Iterator[ReadResult]:
    for path in expand_inputs(inputs, (".json",)):
        if isinstance(path, InputFileError):
            yield path
            continue
        try:
            entries, extra_dirs = _entries(load_json(path), path)
        except InputFileError as exc:
            yield exc
            continue
        dirs = ([options.images_dir] if options.images_dir else []) + [path.parent] + extra_dirs
        for entry in entries.values():
            filename = (
                str(entry["filename"]).rsplit("/", 1)[-1]
                if "://" in str(entry["filename"])
                else str(entry["filename"])
            )
            where = f"{path}[{filename}]"
            regions = entry.get("regions") or []
            if isinstance(regions, dict):  # VIA 1 stored regions keyed by index
                regions = list(regions.values())
            raw = RawImage(where=where, image_path=None)
            raw.image_path, raw.searched = find_image(filename, dirs)
            try:
                for number, region in enumerate(regions):
                    shape = region.get("shape_attributes", {})
                    try:
                        polygon = _polygon(shape)
                    except (KeyError, TypeError, ValueError) as exc:
                        raise InputFileError(
                            where, f"region {number}: malformed {shape.get('name')} ({exc})"
                        ) from None
                    if polygon is None:
                        continue
                    label = _label(region.get("region_attributes", {}), options.label_attribute)
                    if label is None:
                        raise InputFileError(
                            where,
                            f"region {number} has no level label "
                            f"(attributes {sorted(region.get('region_attributes', {}))}; "
                            "use --label-attribute)",
                        )
                    raw.instances.append(RawInstance(label=label, polygons=[polygon]))
            except InputFileError as exc:
                yield exc
                continue
            yield raw

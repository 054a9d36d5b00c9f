"""Annotations in any supported format -> one validated COCO dataset (``lumbarseg convert``).

Each input format is one module with ``read(inputs, options) -> Iterator[RawImage |
InputFileError]``; the pipeline (``pipeline.convert_dataset``) does everything else once:
label aliases, image export through ``to_network_input``, shapely validation, splits by
patient, the summary. Register a new format by adding its module to ``FORMATS``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

from lumbarseg.data.convert.records import ConvertOptions, ReadResult

# format name -> (module, one-line description)
FORMATS: dict[str, tuple[str, str]] = {
    "via": ("lumbarseg.data.convert.via", "VGG Image Annotator 2 project or region JSON"),
    "labelme": ("lumbarseg.data.convert.labelme", "labelme JSON, one per image"),
    "coco": ("lumbarseg.data.convert.coco", "COCO instances JSON (CVAT, phantoms, ...)"),
    "masks": ("lumbarseg.data.convert.masks", "label/instance mask PNGs (value k = level k)"),
    "buu": ("lumbarseg.data.convert.buu", "BUU-LSPINE endplate corner CSVs"),
    "dicom": ("lumbarseg.data.convert.dicom", "DICOM/PNG/JPEG images without annotations"),
}

Reader = Callable[[list[Path], ConvertOptions], Iterator[ReadResult]]


def get_reader(name: str) -> Reader:
    """The ``read`` function of a format (imported on demand)."""
    from lumbarseg.errors import LumbarsegError

    if name not in FORMATS:
        raise LumbarsegError(f"unknown format {name!r}; choose one of {', '.join(FORMATS)}")
    return importlib.import_module(FORMATS[name][0]).read

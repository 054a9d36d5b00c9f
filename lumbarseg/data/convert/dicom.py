"""Images without annotations (DICOM, PNG, JPEG): a COCO image list, e.g. to label or infer.

Folders are searched recursively for DICOM files (by their DICM magic, whatever the name)
and raster images. Non-image DICOM objects (SR, presentation states) are skipped with a
reason rather than failing the conversion.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lumbarseg.data.convert.records import ConvertOptions, RawImage, ReadResult
from lumbarseg.errors import InputFileError
from lumbarseg.io.radiograph import RASTER_SUFFIXES, is_dicom_path


def _files(inputs: list[Path]) -> Iterator[Path | InputFileError]:
    for item in inputs:
        if item.is_dir():
            found = False
            for path in sorted(p for p in item.rglob("*") if p.is_file()):
                if is_dicom_path(path) or path.suffix.lower() in RASTER_SUFFIXES + (".dcm",):
                    found = True
                    yield path
            if not found:
                yield InputFileError(item, "folder holds no DICOM or image files")
        elif item.is_file():
            yield item
        else:
            yield InputFileError(item, "input not found")


def read(inputs: list[Path], options: ConvertOptions) -> Iterator[ReadResult]:
    for path in _files(inputs):
        yield path if isinstance(path, InputFileError) else RawImage(str(path), image_path=path)

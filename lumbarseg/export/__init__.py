"""Exports of inference results to other formats (DICOM Segmentation)."""

from lumbarseg.export.dicom_seg import ExportResult, build_segmentation, export_record, export_run

__all__ = ["ExportResult", "build_segmentation", "export_record", "export_run"]

"""Builders shared by the tests, imported one way: ``from tests.helpers.<module> import ...``.

``dicom_factory`` (small real DICOM files), ``spine`` (a tiny drawn spine and its COCO),
``coco`` (synthetic COCO ground truth and predictions), ``infer_inputs`` (a messy input
folder for inference), ``shared_data`` (the ../shared/data samples: skip, or fail under CI).
Fixtures stay in the conftest files; these modules hold plain functions.
"""

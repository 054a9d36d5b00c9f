"""lumbarseg: find and label the vertebrae on lateral lumbar spine radiographs."""

__version__ = "0.1.0"

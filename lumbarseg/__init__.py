"""lumbarseg: find and label the vertebrae on lateral lumbar spine radiographs."""

import warnings

__version__ = "0.1.0"

# Detectron2 scripts a few helpers with torch.jit at import time; torch >= 2.9 warns about it
# on every import, which buries lumbarseg's own messages. Nothing for users to act on.
warnings.filterwarnings(
    "ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning
)
warnings.filterwarnings(
    "ignore", message=r"torch\.meshgrid: in an upcoming release", category=UserWarning
)

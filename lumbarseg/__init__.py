"""lumbarseg: find and label the vertebrae on lateral lumbar spine radiographs."""

import logging
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
# torch >= 2.14 deprecates DDP's broadcast_buffers, which Detectron2's create_ddp_model passes
# (the demo's CPU training processes), and logs that is_fx_tracing, which Detectron2 calls in
# every forward, also covers torch.export: both once per process, neither actionable here.
warnings.filterwarnings(
    "ignore", message=r"`broadcast_buffers` is deprecated", category=FutureWarning
)
logging.getLogger("torch.fx._symbolic_trace").setLevel(logging.ERROR)

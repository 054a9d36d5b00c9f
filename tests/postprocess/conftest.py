"""Make the shared case builder (buu_cases.py) importable from the postprocess tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import sys

from lumbarseg.cli import main

sys.exit(main())

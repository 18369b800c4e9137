"""``python -m pargnn`` is the ``pargnn`` command (and the entry point ``torchrun`` runs)."""

import sys

from pargnn.cli import main

sys.exit(main())

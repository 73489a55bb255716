"""``python -m parksim``: the same as the ``parksim`` command."""

import sys

from parksim.cli import main

sys.exit(main())

"""``python -m neurosim.cli``: the same as the ``neurosim`` command."""

import sys

from . import main

sys.exit(main())

"""``python -m kp``: the ``kp`` command (see ``kp.cli``)."""

import sys

from .cli import main

sys.exit(main())

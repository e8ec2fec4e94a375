"""``python -m conformance``: the ``asgi-conformance`` command line (see :mod:`conformance.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``.venv/bin/python -m reproduce.audit``: the geometry audit of every net, or of a prototxt (see geometry.py)."""

import sys

from .geometry import main

sys.exit(main())

"""``.venv/bin/python -m reproduce.audit``: the geometry audit of every net, or of a prototxt (see geometry.py)."""

from data.cli import run

from .geometry import main

raise SystemExit(run(main))

"""``.venv/bin/python -m nets.prototxt NAME [-o FILE] [--height H --width W] [--with-loss]``: the prototxt writer's
command line (nets.prototxt.writer.main)."""

from data.cli import run

from .writer import main

raise SystemExit(run(main))

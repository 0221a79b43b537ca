"""Regenerate the HHA fixtures with Gupta's code under GNU Octave:
``FCN_REGEN_HHA=1 .venv/bin/python tests/octave/make_hha_fixtures.py GUPTA`` (GUPTA: the folder of
tests/octave/gupta.py: clones of s-gupta/rcnn-depth, rgbdutils and nyu-hooks).

For each synthetic room of tests/octave/rooms.py, writes into tests/fixtures/hha/:
``ROOM-depth.png`` (16-bit, millimetres), ``ROOM-holes.png`` (1-bit, the pixels the sensor missed),
``ROOM-hha.png`` (Octave's saveHHA without holes: raw depth = depth) and ``ROOM-holes-hha.png`` (with them:
raw depth 0 there), ``window-sums.npz`` (Octave's filter2(ones(2r+1), f) of rooms.window_sum_planes() for r = 3
and 10: the order of its additions, bit for bit) and ``provenance.json`` (Octave's version, the commits of
Gupta's clones, Octave's seconds).
tests/test_hha.py holds data.hha to them; make test-octave rebuilds them and compares.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

import gupta  # noqa: E402
import rooms  # noqa: E402
from data.files import atomic_path, write_bytes, write_text  # noqa: E402


def _save_png(image: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", optimize=True)


def main(argv: list[str]) -> int:
    if os.environ.get("FCN_REGEN_HHA") != "1":
        print("refusing to overwrite the HHA fixtures: set FCN_REGEN_HHA=1 to regenerate them", file=sys.stderr)
        return 2
    folder = argv[0] if argv else None
    message = gupta.problem(folder)
    if message:
        print(message, file=sys.stderr)
        return 2
    every = rooms.cases()
    with tempfile.TemporaryDirectory(prefix="fcn-hha-fixtures-") as tmp:
        outputs, seconds = gupta.save_hha_of(folder, every, Path(tmp))
    rooms.FIXTURES.mkdir(parents=True, exist_ok=True)
    for room in rooms.ROOMS:
        depth, _ = every[room.name]
        _, missing = every[f"{room.name}-holes"]
        _save_png(Image.fromarray(depth), rooms.FIXTURES / f"{room.name}-depth.png")
        _save_png(Image.fromarray(missing), rooms.FIXTURES / f"{room.name}-holes.png")
    for name, hha in outputs.items():
        _save_png(Image.fromarray(hha), rooms.FIXTURES / f"{name}-hha.png")
    planes = rooms.window_sum_planes()
    sums = {f"r{r}": gupta.octave_window_sums(planes, r) for r in rooms.WINDOW_RADII}
    buffer = io.BytesIO()
    np.savez(buffer, planes=planes, **sums)
    write_bytes(rooms.FIXTURES / "window-sums.npz", buffer.getvalue())
    record = {"made by": "FCN_REGEN_HHA=1 .venv/bin/python tests/octave/make_hha_fixtures.py GUPTA",
              "date": datetime.date.today().isoformat(), **gupta.versions(folder),
              "octave saveHHA seconds": {name: round(s, 3) for name, s in seconds.items()}}
    write_text(rooms.FIXTURES / "provenance.json", json.dumps(record, indent=1) + "\n")
    total = sum(p.stat().st_size for p in rooms.FIXTURES.iterdir())
    print(f"wrote {len(list(rooms.FIXTURES.iterdir()))} files, {total / 1024:.0f} KiB, into {rooms.FIXTURES}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

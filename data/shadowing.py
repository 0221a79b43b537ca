"""The kit's top-level names (data, nets, weights, reproduce) are everyday folder names in ML projects: a folder
of checkpoints called ``weights/`` or ``data/`` beside where a command runs.

A plain folder (no ``__init__.py``) does not disturb the kit: ``make setup`` ends with data.kitpath, which puts
the kit's packages themselves on the environment's path, and a regular package anywhere on the path wins over a
namespace folder (the editable install alone does not do it: its import hook comes after the path search, which
has already taken the plain folder for a namespace package). A real package of the same name in the working
folder comes first on the path and would be imported in the kit's place: ``refuse_shadowing`` (run when ``data``
is imported, which every kit package does) stops with one line saying what shadows what and to run from
elsewhere.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parent.parent
KIT_PACKAGES = ("data", "nets", "weights", "reproduce")


def shadowing() -> list[tuple[str, str]]:
    """(name, where an import takes it from) for each kit package that would not come from the kit's checkout."""
    found = []
    for name in KIT_PACKAGES:
        module = sys.modules.get(name)
        try:
            origin = getattr(module, "__file__", None) if module is not None else \
                getattr(importlib.util.find_spec(name), "origin", None)
        except (ImportError, ValueError):
            origin = None
        if origin is None:
            where = module.__path__ if module is not None and hasattr(module, "__path__") else None
            origin = f"a folder without __init__.py ({', '.join(map(str, where))})" if where else None
            if origin is None:
                continue
        elif Path(origin).resolve().parent == KIT_ROOT / name:
            continue
        found.append((name, str(Path(origin).parent) if origin.endswith(".py") else origin))
    return found


def refuse_shadowing() -> None:
    """Stop (SystemExit, one line) when a kit package would be imported from elsewhere than the kit."""
    found = shadowing()
    if found:
        what = "; ".join(f"{where} shadows the kit's {name} package ({KIT_ROOT / name})" for name, where in found)
        raise SystemExit(f"error: {what}. Python imports a package from the working folder first: run the command "
                         "from another folder (or rename that package)")


"""torchfcn's own model classes (torchfcn 1.9.7, pinned in requirements-nodeps.txt), for the export tests.

torchfcn's model modules (torchfcn/models/fcn32s.py, fcn16s.py, fcn8s.py) import the Chainer-based ``fcn``
package only for their ``download()`` helpers, and ``torchfcn/__init__`` imports its trainer and datasets
(pytz, scikit-image, torchvision). So the package is installed without its dependencies
(``pip install --no-deps -r requirements-nodeps.txt``, done by ``make setup``), and the model modules are
imported here with their own code unchanged but without running the two package ``__init__`` files, and with
an empty module standing in for ``fcn`` while they import. Nothing of torchfcn is copied or patched.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

INSTALL = ".venv/bin/pip install --no-deps -r requirements-nodeps.txt"


def torchfcn_models() -> dict[str, type]:
    """torchfcn's FCN32s, FCN16s, FCN8s and FCN8sAtOnce classes by name."""
    spec = importlib.util.find_spec("torchfcn")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"torchfcn is not installed; install it with `{INSTALL}`")
    root = Path(next(iter(spec.submodule_search_locations)))
    stand_ins = {
        "torchfcn": _package("torchfcn", root),
        "torchfcn.models": _package("torchfcn.models", root / "models"),
        "fcn": types.ModuleType("fcn"),  # used only inside download(), which the tests never call
    }
    saved = {name: sys.modules.get(name) for name in stand_ins}
    sys.modules.update(stand_ins)
    try:
        fcn32s = importlib.import_module("torchfcn.models.fcn32s")
        fcn16s = importlib.import_module("torchfcn.models.fcn16s")
        fcn8s = importlib.import_module("torchfcn.models.fcn8s")
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        for name in ("torchfcn.models.fcn32s", "torchfcn.models.fcn16s", "torchfcn.models.fcn8s"):
            sys.modules.pop(name, None)
    return {"FCN32s": fcn32s.FCN32s, "FCN16s": fcn16s.FCN16s, "FCN8s": fcn8s.FCN8s,
            "FCN8sAtOnce": fcn8s.FCN8sAtOnce}


def _package(name: str, folder: Path) -> types.ModuleType:
    """An empty package module whose submodules are found in ``folder`` (its __init__.py is not run)."""
    module = types.ModuleType(name)
    module.__path__ = [str(folder)]
    return module

"""torchfcn 1.9.7 (pinned in requirements-nodeps.txt) as its users run it: its own model classes, imported
unchanged. Named torchfcn_import, not torchfcn, so that no script run from this folder shadows the package.
The one importer of torchfcn in the kit: the inference benchmark's torchfcn contestant
(benchmarks/inference.py) and the export tests (tests/torchfcn_models.py) use it. Nothing of torchfcn is copied
or patched; a peer's package is a measuring tool's business, not the library's.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types
from pathlib import Path

import torch

# torchfcn 1.9.7's model classes for the kit nets it implements (module, class); its other nets do not exist.
TORCHFCN = {"voc-fcn32s": ("fcn32s", "FCN32s"), "voc-fcn16s": ("fcn16s", "FCN16s"), "voc-fcn8s": ("fcn8s", "FCN8s"),
            "voc-fcn8s-atonce": ("fcn8s", "FCN8sAtOnce")}


def torchfcn_classes() -> dict[str, type]:
    """torchfcn 1.9.7's own model classes (FCN32s, FCN16s, FCN8s, FCN8sAtOnce), imported without running
    torchfcn/__init__.py (which imports its trainer and datasets, with scikit-image, pytz and the Chainer-based
    ``fcn`` package). Its model modules import ``fcn`` only for their ``download()`` helpers, so while they
    import, a stand-in whose every use raises takes its place (the stand-ins leave sys.modules afterwards); the
    model classes run unchanged. Install: ``.venv/bin/pip install --no-deps -r
    requirements-nodeps.txt`` (make setup)."""
    found = importlib.machinery.PathFinder.find_spec("torchfcn")
    if found is None or not found.submodule_search_locations:
        raise ModuleNotFoundError("torchfcn is not installed: .venv/bin/pip install --no-deps -r "
                                  "requirements-nodeps.txt")
    root = Path(next(iter(found.submodule_search_locations)))

    def unavailable(*args, **kwargs):
        raise RuntimeError("torchfcn's download helper needs the Chainer-based fcn package, not installed here")

    stand_in = types.ModuleType("fcn", "stand-in for the Chainer-based fcn package: only download() uses it")
    stand_in.data = types.SimpleNamespace(cached_download=unavailable)
    stand_ins = {"torchfcn": _package("torchfcn", root), "torchfcn.models": _package("torchfcn.models",
                                                                                     root / "models"),
                 "fcn": stand_in}
    loaded = tuple(f"torchfcn.models.{m}" for m in ("fcn32s", "fcn16s", "fcn8s"))
    saved = {m: sys.modules.get(m) for m in (*stand_ins, *loaded)}
    sys.modules.update(stand_ins)
    try:
        modules = {m: importlib.import_module(m) for m in loaded}
    finally:
        for m, old in saved.items():
            if old is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = old
    return {cls: getattr(modules[f"torchfcn.models.{m}"], cls)
            for m, cls in (("fcn32s", "FCN32s"), ("fcn16s", "FCN16s"), ("fcn8s", "FCN8s"), ("fcn8s", "FCN8sAtOnce"))}


def torchfcn_model(name: str) -> torch.nn.Module:
    """torchfcn's own model for the kit net ``name`` (21 classes), from ``torchfcn_classes``."""
    if name not in TORCHFCN:
        raise KeyError(f"torchfcn has no model for {name}; it has {sorted(TORCHFCN)}")
    return torchfcn_classes()[TORCHFCN[name][1]](n_class=21)


def _package(name: str, folder: Path) -> types.ModuleType:
    """An empty package module whose submodules are found in ``folder`` (its __init__.py is not run)."""
    pkg = types.ModuleType(name)
    pkg.__path__ = [str(folder)]
    return pkg

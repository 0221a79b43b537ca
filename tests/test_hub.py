"""PyTorch Hub: hubconf.py at the checkout's root gives one entry point per reference net (dashes as
underscores), loaded strictly when weights are given; its ``dependencies`` are what the entry points import."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import nets
import weights
from parity import load_params, random_params
from weights.errors import WeightsMismatchError

ROOT = Path(__file__).resolve().parent.parent


def hubconf():
    spec = importlib.util.spec_from_file_location("hubconf_under_test", ROOT / "hubconf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hubconf_has_one_entry_point_per_reference_net_and_nothing_else(monkeypatch):
    module = hubconf()
    # what torch.hub.list() reports: the public callables of hubconf
    public = sorted(f for f in dir(module) if callable(getattr(module, f)) and not f.startswith("_"))
    assert public == sorted(name.replace("-", "_") for name in nets.NAMES)
    # Each entry point builds the net it is named after (recorded, not built: seventeen nets cost seconds).
    built = []
    monkeypatch.setattr(nets, "build", lambda name: built.append(name) or name)
    assert [getattr(module, name.replace("-", "_"))() for name in nets.NAMES] == list(nets.NAMES) == built


def test_hub_load_from_a_local_checkout_returns_the_kits_net_without_weights():
    net = torch.hub.load(str(ROOT), "voc_fcn8s_atonce", source="local")
    assert isinstance(net, nets.CaffeNet) and net.name == "voc-fcn8s-atonce" and not net.training
    assert torch.equal(net.upscore8.weight, nets.bilinear_kernel(21, 16))
    assert not net.fc6.weight.any()


def test_hub_load_with_weights_loads_them_strictly(tmp_path):
    given = load_params(nets.build("voc-fcn-alexnet"), random_params("voc-fcn-alexnet", seed=9))
    path = weights.save(given, tmp_path / "alexnet.h5")
    net = torch.hub.load(str(ROOT), "voc_fcn_alexnet", source="local", weights=path)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), given.state_dict().values(),
                                                  strict=True))
    with pytest.raises(WeightsMismatchError, match="do not fit net voc-fcn32s"):
        torch.hub.load(str(ROOT), "voc_fcn32s", source="local", weights=path)


def kit_imports(files: list[Path]) -> set[str]:
    """Top-level names of every module the given files import (at the top or inside functions)."""
    names = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_hubconf_dependencies_are_the_third_party_packages_its_entry_points_import(tmp_path):
    # Run an entry point with weights in a fresh interpreter; every kit module it loaded is read for imports.
    # FCN-AlexNet: the smallest of the kit's nets to write and read (the modules loaded are every net's)
    path = weights.save(load_params(nets.build("voc-fcn-alexnet"), random_params("voc-fcn-alexnet")), tmp_path / "a.h5")
    script = (f"import sys, json, torch; torch.hub.load({str(ROOT)!r}, 'voc_fcn_alexnet', source='local', "
              f"weights={str(path)!r}); print(json.dumps([m.__file__ for m in list(sys.modules.values()) "
              f"if getattr(m, '__file__', None)]))")
    files = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                                      cwd=tmp_path).stdout.splitlines()[-1])
    ours = [Path(f) for f in files if Path(f).is_absolute() and Path(f).resolve().is_relative_to(ROOT)
            and ".venv" not in Path(f).resolve().relative_to(ROOT).parts]
    assert ROOT / "weights" / "formats.py" in ours and ROOT / "nets" / "net.py" in ours
    ours.append(ROOT / "hubconf.py")  # torch.hub runs it without entering it in sys.modules
    first_party = {"nets", "weights", "data", "reproduce", "hubconf"}
    third_party = kit_imports(ours) - set(sys.stdlib_module_names) - first_party - {"__future__"}
    assert sorted(third_party) == sorted(hubconf().dependencies)

"""The kit's side of the Caffe parity tests: run real BVLC Caffe in its own process and read its blobs back.

Caffe is built by ``bash tests/caffe/build_caffe.sh`` (or ``make test-caffe``) into ``$FCN_CAFFE_HOME``
(default ``~/.cache/fcn-kit/caffe``) with a pycaffe interpreter of its own (numpy<2), which cannot share a
process with the kit (numpy 2). Each call writes its arrays to HDF5 files in a temporary folder, runs
caffe_runner.py under that interpreter, and reads the result.

Parameters are ``{layer: [blob 0, blob 1, ...]}`` in Caffe's shapes (Convolution weight
(out, in/group, kh, kw), bias (out,); Deconvolution weight (in, out/group, kh, kw)), stored as Caffe's HDF5
snapshot layout
``/data/<layer>/<i>`` (a '/' in a layer name nests groups, as in the kit's weights files). Input and output
blobs are flat datasets under percent-encoded names. Everything crosses as float32, the only type this Caffe
build computes in.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "caffe_runner.py"
BUILD_SCRIPT = HERE / "build_caffe.sh"
REQUIREMENTS = HERE / "pycaffe-requirements.txt"
BUILD_COMMAND = "bash tests/caffe/build_caffe.sh"

Params = Mapping[str, Sequence[Any]]


class CaffeNotBuilt(RuntimeError):
    """There is no finished Caffe build (or it was made by another version of build_caffe.sh)."""


class CaffeError(RuntimeError):
    """Caffe (or caffe_runner.py) failed; the message carries its stderr."""


# ---- the build ---------------------------------------------------------------------------------------------


def _home_path() -> Path:
    return Path(os.environ.get("FCN_CAFFE_HOME") or Path.home() / ".cache" / "fcn-kit" / "caffe").expanduser()


def _recipe() -> str:
    """The hash build_caffe.sh writes into its stamp: sha256 of the script followed by the requirements."""
    return hashlib.sha256(BUILD_SCRIPT.read_bytes() + REQUIREMENTS.read_bytes()).hexdigest()[:16]


def _stamp() -> dict[str, str]:
    home = _home_path()
    stamp = home / "BUILT"
    if not stamp.is_file():
        raise CaffeNotBuilt(f"no finished Caffe build at {home} (no {stamp.name} stamp); build it with "
                            f"`{BUILD_COMMAND}` (or `make test-caffe`), about 5 minutes on 2 cores")
    fields = dict(line.split("=", 1) for line in stamp.read_text().splitlines() if "=" in line)
    if fields.get("recipe") != _recipe():
        raise CaffeNotBuilt(f"the Caffe build at {home} was made by another version of build_caffe.sh "
                            f"(recipe {fields.get('recipe')}, expected {_recipe()}); update it with "
                            f"`{BUILD_COMMAND}`")
    for key in ("python", "pythonpath"):
        if key not in fields or not Path(fields[key]).exists():
            raise CaffeNotBuilt(f"the Caffe build at {home} lacks its {key} ({fields.get(key)}); "
                                f"rebuild it with `rm {stamp} && {BUILD_COMMAND}`")
    return fields


def caffe_home() -> Path:
    """The folder holding the finished Caffe build; CaffeNotBuilt if there is none."""
    _stamp()
    return _home_path()


def caffe_source() -> Path:
    """The Caffe source tree the build was made from; its models/ folder holds BVLC's reference nets."""
    return Path(_stamp()["pythonpath"]).parent


def caffe_python() -> Path:
    """The pycaffe interpreter (Python 3 with numpy<2); CaffeNotBuilt if Caffe is not built."""
    return Path(_stamp()["python"])


def caffe_env() -> dict[str, str]:
    """The environment a script run by the pycaffe interpreter needs (Caffe's python/ on its path, quiet glog);
    CaffeNotBuilt if Caffe is not built."""
    fields = _stamp()
    env = dict(os.environ)
    env["PYTHONPATH"] = fields["pythonpath"]
    env["PYTHONNOUSERSITE"] = "1"
    env.setdefault("GLOG_minloglevel", "2")
    return env


def _run(command: str, *args: str | Path) -> str:
    """Run ``caffe_runner.py <command> <args>`` under pycaffe; return its stderr (notes), raise on failure."""
    env = caffe_env()
    argv = [str(caffe_python()), str(RUNNER), command, *map(str, args)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        if done.returncode < 0:
            how = f"killed by {signal.Signals(-done.returncode).name}"
        else:
            how = f"exit status {done.returncode}"
        raise CaffeError(f"Caffe {command} failed ({how}). Caffe's stderr:\n{done.stderr.strip()}"
                         + (f"\nstdout:\n{done.stdout.strip()}" if done.stdout.strip() else ""))
    return done.stderr


# ---- HDF5 files --------------------------------------------------------------------------------------------


def _atomic_h5(path: Path, fill) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            fill(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _float32(a: Any, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{what} has dtype {arr.dtype}; expected a real-valued array "
                        "(Caffe blobs are float32)")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _check_key(name: str, what: str) -> str:
    """A Caffe name as an HDF5 path: a '/' in it (BVLC GoogLeNet's ``conv1/7x7_s2``) nests groups, as in the
    kit's weights layout; so no empty part and no '.' or '..' part."""
    if not isinstance(name, str) or any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError(f"{what} name {name!r} is not usable as an HDF5 path; expected a non-empty str whose "
                         "'/'-separated parts are neither empty nor '.' / '..'")
    return name


def _blob_key(name: str) -> str:
    """A blob name as one flat dataset name, percent-encoded (as caffe_runner.blob_key): blobs are datasets, so
    "a" and "a/b" could not both be paths."""
    return urllib.parse.quote(name, safe="")


def _write_blob_lists(group: h5py.Group, params: Params, what: str) -> None:
    for layer, blobs in params.items():
        sub = group.create_group(_check_key(layer, what))
        for i, a in enumerate(blobs):
            sub.create_dataset(str(i), data=_float32(a, f"{what} {layer} blob {i}"))


def _layer_paths(group: h5py.Group, prefix: str = "") -> list[str]:
    """Every layer under ``group``: a group holding datasets 0, 1, ... (or nothing: a layer without blobs); a
    group holding only groups is a part of names holding '/' (and a layer's group may hold deeper layers too)."""
    out = []
    for key, sub in group.items():
        if isinstance(sub, h5py.Group):
            path = f"{prefix}{key}"
            if not len(sub) or any(isinstance(v, h5py.Dataset) for v in sub.values()):
                out.append(path)
            out += _layer_paths(sub, f"{path}/")
    return out


def _read_blob_lists(group: h5py.Group, order: Sequence[str] | None = None) -> dict[str, list[np.ndarray]]:
    names = list(order) if order is not None else _layer_paths(group)

    def blobs(layer: h5py.Group) -> list[np.ndarray]:
        count = sum(isinstance(v, h5py.Dataset) for v in layer.values())  # deeper layers' groups aside
        return [layer[str(i)][()] for i in range(count)]

    return {name: blobs(group[name]) for name in names if name in group}


def write_params_h5(path: str | Path, params: Params) -> None:
    """Write ``{layer: [blobs]}`` as Caffe's HDF5 snapshot layout ``/data/<layer>/<i>`` (float32, atomic)."""
    _atomic_h5(Path(path), lambda f: _write_blob_lists(f.create_group("data"), params, "layer"))


def read_params_h5(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Read ``/data/<layer>/<i>`` into ``{layer: [blobs]}``."""
    path = Path(path)
    with h5py.File(path, "r") as f:
        if "data" not in f:
            raise ValueError(f"{path} has no /data group; expected Caffe's layout /data/<layer>/<i>")
        return _read_blob_lists(f["data"])


def _write_inputs_h5(path: Path, inputs: Mapping[str, Any]) -> None:
    def fill(f: h5py.File) -> None:
        group = f.create_group("inputs")
        for name, a in inputs.items():
            group.create_dataset(_blob_key(name), data=_float32(a, f"input {name}"))

    _atomic_h5(path, fill)


def _strings(attr: Any) -> list[str]:
    return [s.decode() if isinstance(s, bytes) else str(s) for s in np.asarray(attr).ravel()]


def _meta(f: h5py.File) -> dict[str, Any]:
    attrs = f["meta"].attrs
    return {
        "layers": _strings(attrs["layers"]),
        "layer_types": _strings(attrs["layer_types"]),
        "blob_names": _strings(attrs["blobs"]),
        "inputs": _strings(attrs["inputs"]),
        "outputs": _strings(attrs["outputs"]),
        "loss_weights": dict(zip(_strings(attrs["loss_blobs"]), np.asarray(attrs["loss_weights"]).tolist(),
                                 strict=True)),
    }


# ---- Caffe calls -------------------------------------------------------------------------------------------


def forward(prototxt: str, params: Params, inputs: Mapping[str, Any], backward: bool = False,
            phase: str = "test", truncate_after: str | None = None) -> dict[str, Any]:
    """Run Caffe's Net::Forward (and Net::Backward) on a net definition with given parameters and inputs.

    ``prototxt`` is the NetParameter text, fed through Input layers (with ``force_backward: true`` and loss
    layers when ``backward``). Every layer with blobs must be in ``params``, with Caffe's shapes. Returns
    ``blobs`` {name: float32 array} in Caffe's blob order (in-place layers leave one blob holding the last
    value written), ``layers``, ``layer_types``, ``blob_names``, ``inputs``, ``outputs``, ``loss_weights``,
    ``loss`` (Caffe's weighted total) and, only when ``backward``, ``param_diff`` {layer: [diffs]} and
    ``blob_diff`` {name: diff} (in-place blobs hold the diff of the earliest layer's bottom).

    ``truncate_after``: Caffe builds only the layers up to the last one writing that blob, with its Input layers
    shaped like ``inputs`` (a classifier's deploy net run as its convolutional trunk).
    """
    if phase not in ("test", "train"):
        raise ValueError(f"phase {phase!r}; expected 'test' or 'train'")
    with tempfile.TemporaryDirectory(prefix="caffe-forward-") as tmp:
        work = Path(tmp)
        (work / "net.prototxt").write_text(prototxt)
        write_params_h5(work / "params.h5", params)
        _write_inputs_h5(work / "inputs.h5", inputs)
        args: list[str | Path] = ["--prototxt", work / "net.prototxt", "--params", work / "params.h5",
                                  "--inputs", work / "inputs.h5", "--out", work / "out.h5", "--phase", phase]
        if backward:
            args.append("--backward")
        if truncate_after:
            args += ["--truncate-after", truncate_after]
        _run("forward", *args)
        with h5py.File(work / "out.h5", "r") as f:
            result = _meta(f)
            result["loss"] = float(f["loss"][()])
            result["blobs"] = {name: f["blobs"][_blob_key(name)][()] for name in result["blob_names"]}
            if backward:
                result["param_diff"] = _read_blob_lists(f["param_diff"], result["layers"])
                result["blob_diff"] = {name: f["blob_diff"][_blob_key(name)][()]
                                       for name in result["blob_names"]}
    return result


def coord_map_offsets(prototxt: str) -> dict[str, Any]:
    """Every Crop's offset as Caffe's net-spec tool derives it: the net described through caffe.NetSpec /
    caffe.layers (checked to write back the prototxt's layers), each crop made by ``caffe.coord_map.crop`` as the
    reference's net.py files made theirs. The prototxt's own offsets are ignored. Returns ``crops``
    {name: {"axis", "offset": [per axis]}}, ``concats_aligned`` (the Concat layers Caffe's coord_map showed to join
    aligned bottoms, then passed through) and ``layers``; CaffeError if coord_map refuses a crop."""
    with tempfile.TemporaryDirectory(prefix="caffe-coord-map-") as tmp:
        work = Path(tmp)
        (work / "net.prototxt").write_text(prototxt)
        _run("coord-map", "--prototxt", work / "net.prototxt", "--out", work / "out.json")
        return json.loads((work / "out.json").read_text())


def save_caffemodel(prototxt: str, params: Params, out_path: str | Path, v1: bool = False) -> Path:
    """Write ``params`` as a binary caffemodel with Caffe; ``v1``: the old V1 format (legacy 4-D blob dims).

    Proven inside the same Caffe process: the written file is loaded into a fresh caffe.Net (V1 upgraded as
    Caffe does) and every blob must equal ``params`` (as float32) bit for bit; CaffeError otherwise.
    """
    out = Path(out_path)
    with tempfile.TemporaryDirectory(prefix="caffe-save-") as tmp:
        work = Path(tmp)
        (work / "net.prototxt").write_text(prototxt)
        write_params_h5(work / "params.h5", params)
        args: list[str | Path] = ["--prototxt", work / "net.prototxt", "--params", work / "params.h5",
                                  "--out", out.resolve()]
        if v1:
            args.append("--v1")
        notes = _run("save-caffemodel", *args)
    if notes.strip():
        print(notes.strip(), file=sys.stderr)
    return out


def dump_caffemodel(prototxt: str, model_path: str | Path) -> dict[str, list[np.ndarray]]:
    """Load a caffemodel into caffe.Net (V1 upgraded as Caffe does); return its params in Caffe's shapes."""
    model = Path(model_path)
    if not model.is_file():
        raise FileNotFoundError(f"no caffemodel at {model}")
    with tempfile.TemporaryDirectory(prefix="caffe-dump-") as tmp:
        work = Path(tmp)
        (work / "net.prototxt").write_text(prototxt)
        _run("dump-caffemodel", "--prototxt", work / "net.prototxt", "--model", model.resolve(),
             "--out", work / "out.h5")
        with h5py.File(work / "out.h5", "r") as f:
            return _read_blob_lists(f["data"], _meta(f)["layers"])


def solve(solver_text: str, net_prototxt: str, params: Params, inputs: Mapping[str, Any],
          steps: int) -> list[dict[str, Any]]:
    """Run Caffe's SGDSolver ``steps`` iterations from ``params`` on the same ``inputs`` every iteration.

    ``solver_text`` is a SolverParameter (base_lr, lr_policy, momentum, weight_decay, ...); its net fields,
    test nets and snapshot settings are replaced: the net is ``net_prototxt``. Returns one record per
    iteration: ``iter`` (1-based), ``loss`` (the weighted loss of that iteration's forward pass, before the
    update), ``params`` {layer: [blobs]} after the update and ``history`` {layer: [blobs]}, SGD's momentum
    buffer V (Caffe: V = momentum * V + local_lr * (grad + local_decay * W); W -= V).
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    with tempfile.TemporaryDirectory(prefix="caffe-solve-") as tmp:
        work = Path(tmp)
        (work / "solver.prototxt").write_text(solver_text)
        (work / "net.prototxt").write_text(net_prototxt)
        write_params_h5(work / "params.h5", params)
        _write_inputs_h5(work / "inputs.h5", inputs)
        _run("solve", "--solver", work / "solver.prototxt", "--net", work / "net.prototxt",
             "--params", work / "params.h5", "--inputs", work / "inputs.h5", "--steps", str(steps),
             "--out", work / "out.h5")
        records = []
        with h5py.File(work / "out.h5", "r") as f:
            layers = _meta(f)["layers"]
            for k in range(1, steps + 1):
                step = f[f"step{k}"]
                records.append({
                    "iter": k,
                    "loss": float(step["loss"][()]),
                    "params": _read_blob_lists(step["data"], layers),
                    "history": _read_blob_lists(step["history"], layers),
                })
    return records

"""Audit anyone's port: does a third-party PyTorch FCN compute the reference's net, and if not, where and how?

    .venv/bin/python -m reproduce.audit.port FILE.py:FACTORY --net voc-fcn8s
    .venv/bin/python -m reproduce.audit.port package.module:FACTORY --net voc-fcn8s --kwargs '{"n_class": 21}'
    make audit-port PORT=FILE.py:FACTORY NET=voc-fcn8s

Loading the port RUNS ITS CODE: the file (or module) is imported and FACTORY (a class or a function) is called,
with no arguments or with --kwargs, as the port's own users run it; on the CPU, in eval mode. Audit code you
would run anyway. A FILE.py runs with its folder first on the import path (its sibling modules import as when
you run it there); a module.path imports from the current folder, as ``python -m`` does.

Then (docs/audit.md):

1. The kit's net gets seeded weights (or --weights FILE), and they are mapped into the port: its parameter
   layers in the order its forward calls them, paired with the net's Caffe layers by order and shape
   (port_mapping). The mapping is printed; a layer without a partner stops the audit (exit 2), naming it.
2. Both run on the same picture at several sizes: 500x500, 375x500 and the sizes near 500 that make every
   pooling layer round (its input not a multiple of its stride), so that floor and ceil pooling differ
   somewhere. The kit gets its own preprocessing (BGR, 0..255, the dataset's mean subtracted); the port gets
   the same tensor, or with --input the same picture encoded as its forward expects (its forward does the rest).
3. Verdict ``equal`` (the largest relative error and the argmax agreement, within the Caffe parity suite's
   tolerance) or ``differs``, with the first Caffe blob the port does not reproduce and the kind of difference
   (port_localise): a spatial shift (the crop offset that lines it up), an input padding, floor pooling, an
   upsampling that is not the reference's, a constant factor, an error, or something else.
4. A JSON record (the mapping, each size's errors blob by blob, the verdict, the first difference) and this
   summary; --html a page in the audit report's style with the error profile.

Exit status: 0 equal, 1 differs, 2 cannot audit (one message saying why).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import re
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import numpy as np

import nets
from data.cli import fail
from data.files import DestinationExists, refuse_existing

from ..records import REPO, git_revision, write_json, write_text
from .port_localise import ARGMAX_AGREEMENT, TOLERANCE, Finding, SizeRun, describe_sizes, run_size, size_text
from .port_mapping import Mapping, MappingError, map_weights

if TYPE_CHECKING:  # for the annotations only
    import torch

    from nets.net import CaffeNet

TEMPLATES = Path(__file__).resolve().parent / "templates"
OUT = REPO / "results" / "audit" / "port"

# What the port's forward is fed (--input): the picture the kit preprocesses, encoded another way. The kit
# always gets its own preprocessing; a port whose forward expects another encoding converts it itself, and the
# audit compares what both then compute. Exact encodings only: nothing is resampled.
INPUTS = {
    "caffe": "the kit's preprocessing, as the reference fed Caffe: BGR, 0..255, the dataset's mean subtracted",
    "bgr255": "the picture as BGR, 0..255, no mean subtracted",
    "rgb255": "the picture as RGB, 0..255, no mean subtracted",
    "rgb01": "the picture as RGB scaled to [0, 1], no mean subtracted",
}
FIRST_SIZES = ((500, 500), (375, 500))  # the reference's typical VOC picture sizes
PROBE = (64, 64)  # the port's first forward, which shows the order of its calls (a larger size if it fails)


class PortError(ValueError):
    """The port cannot be audited: it does not load, build or run, or it does not fit the net."""


# ---- loading the port (runs its code) ------------------------------------------------------------------------


def _user_frame(e: BaseException, where: Path | None) -> str:
    """" at FILE:LINE" for the innermost frame of the traceback inside the port's files (or the last one)."""
    frames = traceback.extract_tb(e.__traceback__)
    if not frames:
        return ""
    mine = [f for f in frames if where is None or Path(f.filename).resolve().is_relative_to(where)]
    f = (mine or frames)[-1]
    return f" at {f.filename}:{f.lineno}"


def load_factory(target: str) -> tuple[Callable, Path | None]:
    """The FACTORY of ``FILE.py:FACTORY`` or ``module.path:FACTORY``, its module imported (its code runs)."""
    where, sep, name = target.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise PortError(f"the port is named FILE.py:FACTORY or module.path:FACTORY (a class or function building "
                        f"the model), found {target!r}")
    is_file = where.endswith(".py") or "/" in where or "\\" in where
    folder = None
    try:
        if is_file:
            path = Path(where)
            if not path.is_file():
                raise PortError(f"the port file {where} does not exist (or is not a file); name a .py file that "
                                "defines the model")
            folder = path.resolve().parent
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))  # its sibling modules import as when run from its folder
            module_name = "port_" + re.sub(r"\W", "_", path.stem)
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            module = importlib.import_module(where)
            folder = Path(module.__file__).resolve().parent if getattr(module, "__file__", None) else None
    except PortError:
        raise
    except ModuleNotFoundError as e:
        if where.split(".")[0] == "torchfcn" and e.name == "fcn":
            # the kit installs torchfcn without its Chainer-based fcn package (requirements-nodeps.txt)
            raise PortError(f"cannot import the port {where}: {e}: the kit's environment holds torchfcn without its "
                            "Chainer-based fcn package, which its model modules import for a download helper only; "
                            "audit torchfcn's classes through the kit's importer: make audit-port "
                            "PORT=benchmarks/torchfcn_import.py:torchfcn_model KWARGS='{\"name\": \"voc-fcn8s\"}' "
                            "NET=voc-fcn8s") from None
        raise PortError(f"cannot import the port {where}: {e}{_user_frame(e, folder)}; install what it needs "
                        "into the kit's environment, or run from the folder that holds the package") from None
    except BaseException as e:  # noqa: BLE001 -- the port's own code failed while importing: one message
        if isinstance(e, KeyboardInterrupt):
            raise
        raise PortError(f"the port's code raised {type(e).__name__}: {e} while {where} was imported"
                        f"{_user_frame(e, folder)}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        found = sorted(n for n, v in vars(module).items() if isinstance(v, type) and not n.startswith("_")
                       and _is_module_class(v))
        raise PortError(f"{where} has no class or function {name!r}; the nn.Module classes it defines: "
                        f"{', '.join(found) or 'none'}")
    return factory, folder


def _is_module_class(v: type) -> bool:
    import torch

    return issubclass(v, torch.nn.Module)


def build_port(target: str, kwargs: dict | None = None) -> torch.nn.Module:
    """The port's model: FACTORY(**kwargs), in eval mode, on the CPU."""
    import torch

    factory, folder = load_factory(target)
    try:
        model = factory(**(kwargs or {}))
    except BaseException as e:  # noqa: BLE001 -- the port's own code: one message, where it failed
        if isinstance(e, KeyboardInterrupt):
            raise
        hint = "; pass its arguments with --kwargs '{\"name\": value}'" if isinstance(e, TypeError) else ""
        raise PortError(f"the port's {target} raised {type(e).__name__}: {e} when called"
                        f"{_user_frame(e, folder)}{hint}") from None
    if not isinstance(model, torch.nn.Module):
        raise PortError(f"the port's {target} returned a {type(model).__name__}, not a torch.nn.Module; FACTORY must "
                        "build the model")
    return model.cpu().eval()


# ---- inputs and sizes ----------------------------------------------------------------------------------------


def picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A seeded H x W x 3 RGB picture of 8-bit values: the same picture feeds both nets."""
    return np.random.RandomState(seed).randint(0, 256, (height, width, 3)).astype(np.uint8)


def net_inputs(net: CaffeNet, rgb: np.ndarray, encoding: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(the kit's input, the port's input) of one picture: the kit's preprocessing for the net's input, and
    the port's encoding (INPUTS)."""
    import torch

    from data.preprocess import preprocess_hha, preprocess_image

    rec = nets.record(net.name) if net.name in nets.NAMES else None
    kind = rec.inputs[0].kind if rec else "color"
    mean = rec.inputs[0].mean if rec else nets.record("voc-fcn8s").inputs[0].mean
    kit = preprocess_hha(rgb, np.asarray(mean, np.float32)) if kind == "hha" else preprocess_image(rgb, np.asarray(
        mean, np.float32))
    as_float = rgb.astype(np.float32)
    port = {"caffe": kit, "bgr255": as_float[:, :, ::-1].transpose(2, 0, 1),
            "rgb255": as_float.transpose(2, 0, 1), "rgb01": (as_float / np.float32(255)).transpose(2, 0, 1)}[encoding]
    return (torch.from_numpy(np.ascontiguousarray(kit))[None],
            torch.from_numpy(np.ascontiguousarray(port))[None])


def rounding_pools(spec, height: int, width: int) -> set[str]:
    """The pooling layers whose output size ceil and floor rounding make differ at this input size: those
    whose padded input minus the kernel is not a multiple of the stride."""
    from nets import geometry

    sizes = geometry.blob_sizes(spec, height, width)
    return {x.name for x in spec.layers if x.type == "Pooling"
            and any((n + 2 * x.pad - x.kernel_size) % x.stride for n in sizes[x.bottom[0]])}


def default_sizes(spec) -> list[tuple[int, int]]:
    """500x500, 375x500, then square sizes near 500 until every pooling layer rounds at some size."""
    sizes = list(FIRST_SIZES)
    pools = {x.name for x in spec.layers if x.type == "Pooling"}
    covered = set().union(*(rounding_pools(spec, h, w) for h, w in sizes))
    while covered != pools:
        gain = {s: len(rounding_pools(spec, s, s) - covered) for s in range(400, 601)}
        best = max(gain, key=lambda s: (gain[s], -abs(s - 500)))
        if gain[best] == 0:
            break
        sizes.append((best, best))
        covered |= rounding_pools(spec, best, best)
    return sizes


# ---- the audit ------------------------------------------------------------------------------------------------


@dataclass
class PortAudit:
    """Everything the audit found, for the summary, the record and the page."""

    port: str
    net: str
    encoding: str
    weights: str
    mapping: Mapping
    runs: list[SizeRun]
    finding: Finding | None
    seconds: float
    kwargs: dict = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return all(r.equal for r in self.runs)

    @property
    def verdict(self) -> str:
        return "equal" if self.equal else "differs"

    @property
    def largest_error(self) -> float | None:
        errors = [r.output_error for r in self.runs if r.output_error is not None]
        return max(errors) if errors else None

    @property
    def lowest_agreement(self) -> float | None:
        found = [r.argmax_agreement for r in self.runs if r.argmax_agreement is not None]
        return min(found) if found else None


def audit_port(port: torch.nn.Module, net: CaffeNet, sizes: Sequence[tuple[int, int]] | None = None,
               encoding: str = "caffe", seed: int = 0, name: str = "", weights: str = "") -> PortAudit:
    """Audit the model ``port`` against the kit's CaffeNet ``net`` (its weights are what gets mapped into the
    port): the mapping, then both nets at each size, compared and localised. Raises PortError, MappingError."""
    if len(net.inputs) != 1 or len(net.outputs) != 1:
        raise PortError(f"{net.name} has {len(net.inputs)} input(s) and {len(net.outputs)} output(s); the port "
                        "audit takes the nets with one input and one output")
    if encoding not in INPUTS:
        raise PortError(f"unknown --input {encoding!r}; the encodings are {', '.join(INPUTS)}")
    start = time.perf_counter()
    port = port.cpu().eval()
    net = net.eval()
    sizes = list(sizes or default_sizes(net.spec))
    probes = [net_inputs(net, picture(*size, seed), encoding)[1] for size in (PROBE, sizes[0])]
    mapping = map_weights(port, net, probes)
    runs = []
    for h, w in sizes:
        kit_x, port_x = net_inputs(net, picture(h, w, seed), encoding)
        runs.append(run_size(port, net, mapping, kit_x, port_x))
    found = [r.finding for r in runs if r.finding is not None]
    finding = min(found, key=lambda f: f.key) if found else None  # the earliest in the kit's order; first size
    if finding is not None:
        describe_sizes(finding, runs)
    return PortAudit(name or type(port).__name__, net.name, encoding, weights, mapping, runs, finding,
                     time.perf_counter() - start)


# ---- what it writes --------------------------------------------------------------------------------------------


def profile(run: SizeRun) -> list[dict]:
    """The blob-by-blob error profile of one size: each kit blob the port was compared at, once (a ReLU's input
    is the convolution's output already compared), in the kit's order."""
    seen: set[tuple[int, str]] = set()
    out = []
    for c in run.checks:
        if c.side == "reads" and any(d.version == c.version and d.side == "writes" for d in run.checks):
            continue
        if (c.version, c.side) in seen:
            continue
        seen.add((c.version, c.side))
        out.append({"point": c.label, "port": c.port, "status": c.status, "error": c.error,
                    "kit_shape": size_text(c.kit_shape),
                    "port_shape": None if c.port_shape is None else size_text(c.port_shape)})
    return out


def record(audit: PortAudit) -> dict:
    """The JSON record of an audit."""
    import torch

    return {
        "port": audit.port, "kwargs": audit.kwargs, "net": audit.net, "input": audit.encoding,
        "input_means": INPUTS[audit.encoding], "weights": audit.weights, "verdict": audit.verdict,
        "tolerance": {"relative_error": TOLERANCE, "argmax_agreement": ARGMAX_AGREEMENT},
        "largest_relative_error": audit.largest_error, "lowest_argmax_agreement": audit.lowest_agreement,
        "first_difference": None if audit.finding is None else {**asdict(audit.finding),
                                                                "size": size_text(audit.finding.size)},
        "mapping": [asdict(p) for p in audit.mapping.pairs], "notes": audit.mapping.notes,
        "sizes": [{"size": size_text(r.size), "verdict": "equal" if r.equal else "differs",
                   "seconds": round(r.seconds, 2),
                   "output_error": r.output_error, "argmax_agreement": r.argmax_agreement,
                   "output_shapes": [size_text(s) if s else None for s in r.output_shapes],
                   "first_difference": None if r.first is None else r.first.label, "error": r.error,
                   "profile": profile(r)} for r in audit.runs],
        "seconds": round(audit.seconds, 2), "git_revision": git_revision(), "torch": torch.__version__,
    }


def _percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _error(x: float | None) -> str:
    return "-" if x is None else "inf" if math.isinf(x) else f"{x:.2g}"


def summary(audit: PortAudit) -> str:
    """The short human summary: the mapping, the notes, each size, the verdict and the first difference."""
    m = audit.mapping
    lines = [f"== port {audit.port} against the kit's {audit.net} (input {audit.encoding}; kit weights: "
             f"{audit.weights or 'as built'})", "mapping (kit layer <- the port's module, in the kit's order):"]
    width = max(len(p.kit) for p in m.pairs)
    for p in m.pairs:
        port = f"{p.port} ({p.port_kind} {p.port_shape})" if p.port else "no module"
        lines.append(f"  {p.kit.ljust(width)}  {p.kit_type:<13}  {p.kit_shape:<18}  <- {port}: {p.action}")
    if m.notes:
        lines.append("notes:")
        lines += [f"  - {n}" for n in m.notes]
    lines.append("sizes:")
    for r in audit.runs:
        state = "equal" if r.equal else f"differs from {r.first.label}" if r.first else "differs"
        lines.append(f"  {size_text(r.size):>8}  output error {_error(r.output_error)}, argmax agreement "
                     f"{_percent(r.argmax_agreement)}: {state}" + (f" (the port raised {r.error})" if r.error else ""))
    if audit.equal:
        lines.append(f"verdict: equal: largest relative error {_error(audit.largest_error)}, argmax agreement at "
                     f"least {_percent(audit.lowest_agreement)} over {len(audit.runs)} sizes (tolerance "
                     f"{TOLERANCE:g}, {100 * ARGMAX_AGREEMENT:g}%); every blob compared agrees")
    else:
        f = audit.finding
        lines.append(f"verdict: differs: the first Caffe blob the port does not reproduce is {f.blob} ({f.kind}, "
                     f"seen at {size_text(f.size)})")
        lines.append(f"  {f.message}")
        lines += [f"  {d}" for d in f.details]
    lines.append(f"({len(audit.runs)} sizes in {audit.seconds:.1f} s)")
    return "\n".join(lines)


def render_html(rec: dict) -> str:
    """The page: the verdict, the first difference, the mapping and the error profile of every size, in the
    audit report's style (its CSS, jinja2 with autoescaping)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters.update(error=_error, percent=_percent)
    bars = [[dict(p, bar=_bar(p)) for p in s["profile"]] for s in rec["sizes"]]
    return env.get_template("port.html").render(r=rec, bars=bars, tolerance=TOLERANCE,
                                               written=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))


def _bar(point: dict) -> float:
    """A point's error on the page's log scale: 0 at 1e-8 or below, 1 at 1 or above (a size mismatch: 1)."""
    e = point["error"]
    if e is None or math.isinf(e):
        return 1.0
    return min(1.0, max(0.0, (math.log10(max(e, 1e-8)) + 8) / 8))


# ---- the command ---------------------------------------------------------------------------------------------


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)", text.strip())
    if not m or not 1 <= int(m[1]) <= 4096 or not 1 <= int(m[2]) <= 4096:
        raise argparse.ArgumentTypeError(f"a size is HEIGHTxWIDTH between 1 and 4096, such as 375x500; found "
                                         f"{text!r}")
    return int(m[1]), int(m[2])


def _kwargs(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"--kwargs takes a JSON object such as '{{\"n_class\": 21}}'; {e}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"--kwargs takes a JSON object such as '{{\"n_class\": 21}}', found "
                                         f"{type(value).__name__}")
    return value


def slug(target: str, net: str) -> str:
    """A file name for a port's record: its factory and file (or module) without the path, then the net."""
    where, _, name = target.rpartition(":")
    stem = Path(where).stem if where.endswith(".py") else where
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{stem}.{name}-{net}").strip("._") or "port"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog=".venv/bin/python -m reproduce.audit.port", description=__doc__.splitlines()[0],
        epilog="Loading the port runs its code (its module is imported and FACTORY called): audit code you would "
               "run anyway. Exit status: 0 equal, 1 differs, 2 cannot audit. docs/audit.md has the details.")
    p.add_argument("port", metavar="PORT", help="FILE.py:FACTORY or module.path:FACTORY: a class or function that "
                                                "builds the port's model (called with --kwargs)")
    p.add_argument("--net", required=True, type=nets.net_name, metavar="NET",
                   help="the kit net the port should compute (voc-fcn8s ...)")
    p.add_argument("--kwargs", type=_kwargs, default={}, metavar="JSON",
                   help="FACTORY's keyword arguments as a JSON object: '{\"n_class\": 21}'")
    p.add_argument("--input", choices=sorted(INPUTS), default="caffe", dest="encoding",
                   help="what the port's forward is fed: " + "; ".join(f"{k}: {v}" for k, v in INPUTS.items()))
    p.add_argument("--size", type=_size, action="append", metavar="HxW",
                   help="an input size (repeat for several; default: 500x500, 375x500 and the sizes near 500 that "
                        "make every pooling round)")
    p.add_argument("--weights", type=Path, metavar="FILE",
                   help="the kit weights to map into the port (default: seeded random weights, --seed)")
    p.add_argument("--seed", type=int, default=0, help="the seed of the weights and the picture (default 0)")
    p.add_argument("--json", type=Path, metavar="FILE",
                   help=f"the record's path (default {OUT.relative_to(REPO)}/PORT-NET.json, replaced there as the "
                        "kit's own; a path you name is kept unless --force)")
    p.add_argument("--html", type=Path, nargs="?", const=True, metavar="FILE",
                   help="also write the page (default beside the record, PORT-NET.html)")
    p.add_argument("--force", action="store_true", help="replace --json / --html files that exist")
    args = p.parse_args(argv)
    base = slug(args.port, args.net)
    json_path = args.json or OUT / f"{base}.json"
    html_path = None if args.html is None else (args.json or OUT / base).parent / f"{base}.html" \
        if args.html is True else args.html
    try:
        for named in (args.json, None if args.html is True else args.html):
            if named is not None:
                refuse_existing(named, args.force)
    except DestinationExists as e:
        return fail(e, 2)
    import torch

    from nets.seeded import seeded_weights

    torch.manual_seed(args.seed)
    try:
        model = build_port(args.port, args.kwargs)  # first: the port's own errors come before any wait
    except PortError as e:
        return fail(f"cannot audit {args.port}: {e}", 2)
    net = nets.build(args.net)
    if args.weights is not None:
        import weights

        try:
            weights.load(net, args.weights)
        except (ValueError, OSError) as e:  # weights that do not fit, hold NaN, or a cut or damaged file
            return fail(f"cannot audit {args.port}: --weights {args.weights}: {e}", 2)
        source = str(args.weights)
    else:
        seeded_weights(net, args.seed)
        source = f"seeded random (seed {args.seed})"
    try:
        audit = audit_port(model, net, args.size, args.encoding, args.seed, args.port, source)
    except (PortError, MappingError) as e:
        return fail(f"cannot audit {args.port}: {e}", 2)
    audit.kwargs = args.kwargs
    text = summary(audit)
    print(text)
    rec = record(audit) | {"summary": text}
    write_json(json_path, rec)
    print(f"record: {_shown(json_path)}")
    if html_path is not None:
        write_text(html_path, render_html(rec))
        print(f"page: {_shown(html_path)}")
    return 0 if audit.equal else 1


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    from data.cli import run

    sys.exit(run(main))

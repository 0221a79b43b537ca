"""Audit a Caffe prototxt against one of the kit's nets, layer by layer (``.venv/bin/python -m reproduce.audit
--prototxt FILE``).

The file is read without Caffe (nets.from_prototxt.read_net: Caffe's defaults applied, so ``param { lr_mult:
0 }`` equals the kit's ``lr_mult: 0 decay_mult: 1`` and a missing ``pad`` is 0) and compared with the kit's
NetSpec: layer names and order, types, bottoms and tops, kernel / stride / pad / group / num_output /
bias_term, lr and decay multipliers, fillers, crop axis and offset, dropout ratio, Eltwise operation and
coefficients, Scale factors, LRN settings. The file's data layer (a Python data layer, Input layers or the
legacy input fields) is mapped to the kit's inputs and label tops, and its SoftmaxWithLoss layers to the kit's
losses (names, bottoms, ignore_label 255, normalization, loss_weight).

One rule is the reference's own: a deploy file (no loss layers) may leave the Dropout layers out, as the
reference's voc-fcn8s/deploy.prototxt does, since Dropout is the identity at test time. Everything else that
differs is a Difference.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nets.prototxt import FileLayer, FileNet, multipliers, read_net, reader_tops
from nets.registry import REFERENCE_NAMES
from nets.spec import Layer, NetSpec

__all__ = ["Difference", "FileAudit", "REFERENCE_FILES", "audit_file", "audit_reference_repo", "guess_net",
           "reference_files"]


@dataclass(frozen=True)
class Difference:
    """One way a file differs from the kit's net: ``layer`` (the file's name, or the kit's where the file has
    none), ``field`` (as a prototxt spells it: "crop_param.offset", "param[0].lr_mult", "bottom", ...), both
    values as text, and the file's line (0: not in the file)."""

    layer: str
    field: str
    file: str
    kit: str
    line: int = 0

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"layer {self.layer!r}: {self.field}: file {self.file}, kit {self.kit}{where}"


@dataclass
class LayerRow:
    """One row of the layer-by-layer report: a layer of the file, of the kit, or both."""

    name: str
    type: str
    differences: list[Difference] = field(default_factory=list)
    note: str = ""


@dataclass
class FileAudit:
    path: str
    net: str
    role: str  # "train/val" (a loss layer) or "deploy"
    rows: list[LayerRow]
    notes: list[str]
    file_layers: int = 0  # layers of the file between its data layer and its losses

    @property
    def differences(self) -> list[Difference]:
        return [d for r in self.rows for d in r.differences]

    @property
    def equivalent(self) -> bool:
        return not self.differences


def _t(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, tuple | list):
        return "(" + ", ".join(_t(x) for x in v) + ")" if v else "()"
    if v is None:
        return "(not set)"
    return str(v)


# ---- what the kit expects around its layers --------------------------------------------------------------

IGNORE_LABEL = 255


def _kit_normalization(net: str) -> str:
    """The loss normalisation of the net's reference solver (its record), as Caffe's LossParameter names it:
    the legacy normalize true is VALID, false BATCH_SIZE."""
    from nets.registry import record

    return "VALID" if record(net).solver.normalize else "BATCH_SIZE"


def _kit_feed(net: str, spec: NetSpec) -> tuple[list[tuple[str, str]], dict[str, str], tuple[float, ...]]:
    """From the net's record: (net input blob, reader top) pairs, score blob -> label top (the loss layers'
    label blobs are the reader's label tops), and the mean of its colour input (what a Python data layer's
    param_str "mean" gives)."""
    from nets.registry import record

    rec = record(net)
    colour = next((i for i in rec.inputs if i.kind == "color"), rec.inputs[0])
    return ([(i.blob, i.top) for i in rec.inputs], {score: label for _, score, label in spec.losses},
            tuple(colour.mean))


# ---- the comparison ------------------------------------------------------------------------------------

_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "Convolution": (("convolution_param.num_output", "num_output"), ("convolution_param.kernel_size", "kernel_size"),
                    ("convolution_param.stride", "stride"), ("convolution_param.pad", "pad"),
                    ("convolution_param.group", "group"), ("convolution_param.bias_term", "bias_term")),
    "Pooling": (("pooling_param.pool", "pool"), ("pooling_param.kernel_size", "kernel_size"),
                ("pooling_param.stride", "stride"), ("pooling_param.pad", "pad")),
    "Dropout": (("dropout_param.dropout_ratio", "dropout_ratio"),),
    "Crop": (("crop_param.axis", "axis"), ("crop_param.offset", "offset")),
    "Eltwise": (("eltwise_param.operation", "operation"),),
    "Scale": (("scale_param.filler.value", "scale_value"), ("scale_param.bias_term", "bias_term")),
    "LRN": (("lrn_param.local_size", "local_size"), ("lrn_param.alpha", "alpha"), ("lrn_param.beta", "beta"),
            ("lrn_param.k", "k")),
    "Concat": (("concat_param.axis", "concat_axis"),),
}
_FIELDS["Deconvolution"] = _FIELDS["Convolution"]


def _line_of(fl: FileLayer, label: str) -> int:
    """The line a field label is set on (scale_param.filler.value lives in scale_param.filler)."""
    if label == "scale_param.filler.value":
        label = "scale_param.filler"
    return fl.line_of(label)


def compare_layer(fl: FileLayer, kit: Layer) -> list[Difference]:
    """Every difference between a file layer and the kit layer it stands for."""
    out: list[Difference] = []

    def diff(label: str, mine: object, theirs: object, line: int) -> None:
        if mine != theirs:
            out.append(Difference(fl.name, label, _t(mine), _t(theirs), line))

    diff("name", fl.name, kit.name, fl.line)
    diff("type", fl.type, kit.type, fl.line_of("type"))
    diff("bottom", fl.bottom, kit.bottom, fl.line_of("bottom"))
    diff("top", fl.top, kit.top, fl.line_of("top"))
    if fl.type != kit.type or fl.layer is None:
        return out
    mine = fl.layer
    for label, attr in _FIELDS.get(kit.type, ()):
        diff(label, getattr(mine, attr), getattr(kit, attr), _line_of(fl, label))
    if kit.type == "Eltwise":
        ones = (1.0,) * len(kit.bottom)
        diff("eltwise_param.coeff", mine.coeff or ones, kit.coeff or ones, fl.line_of("eltwise_param.coeff"))
    if kit.type in ("Convolution", "Deconvolution", "Scale"):
        ours, theirs = multipliers(mine), multipliers(kit)
        for i in range(max(len(ours), len(theirs))):
            a = ours[i] if i < len(ours) else None
            b = theirs[i] if i < len(theirs) else None
            for j, key in enumerate(("lr_mult", "decay_mult")):
                diff(f"param[{i}].{key}", None if a is None else a[j], None if b is None else b[j],
                     fl.line_of(f"param[{i}].{key}") if i < len(fl.layer.param) else fl.line_of("param"))
    for s in fl.settings:
        if s.effect in ("unsupported", "filler"):
            kit_value = "(Caffe's default: constant 0)" if s.effect == "filler" else "(not set)"
            out.append(Difference(fl.name, s.path, s.value, kit_value, s.line))
    return out


def _align(file_layers: Sequence[FileLayer], kit_layers: Sequence[Layer]):
    """Pairs (file layer | None, kit layer | None) in order: by name, renamed layers of one type paired by
    position, a layer the two put in different places paired and flagged."""
    a = [x.name for x in file_layers]
    b = [x.name for x in kit_layers]
    pairs: list[tuple[FileLayer | None, Layer | None, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            pairs += [(file_layers[i], kit_layers[j], "") for i, j in zip(range(i1, i2), range(j1, j2), strict=True)]
            continue
        fs, ks = list(file_layers[i1:i2]), list(kit_layers[j1:j2])
        while fs and ks and fs[0].type == ks[0].type and fs[0].name not in b and ks[0].name not in a:
            pairs.append((fs.pop(0), ks.pop(0), ""))  # renamed: same type at the same place
        pairs += [(f, None, "") for f in fs] + [(None, k, "") for k in ks]
    # A layer both have, in different places: pair the two entries.
    file_only = {f.name: i for i, (f, k, _) in enumerate(pairs) if k is None and f is not None}
    kit_only = {k.name: i for i, (f, k, _) in enumerate(pairs) if f is None and k is not None}
    moved = set(file_only) & set(kit_only)
    out = []
    for f, k, note in pairs:
        if f is not None and k is None and f.name in moved:
            out.append((f, pairs[kit_only[f.name]][1], "moved"))
        elif f is None and k is not None and k.name in moved:
            continue
        else:
            out.append((f, k, note))
    return out


def _feed_rows(fnet: FileNet, spec: NetSpec, net: str, with_labels: bool) -> list[LayerRow]:
    """The file's data layer(s) against the kit's inputs (and label tops when the file has losses)."""
    inputs, label_tops, mean = _kit_feed(net, spec)
    labels = [(label, label_tops.get(score, label)) for _, score, label in spec.losses] if with_labels else []
    expected = dict(inputs + labels)  # layer top -> reader top
    channels = {**dict(spec.inputs), **{label: 1 for label, _ in labels}}
    feed = fnet.feed
    if not feed and not fnet.legacy_inputs:
        want = ", ".join(expected)
        return [LayerRow("(data)", "-", [Difference("(data)", "layer", "(absent)", f"a data layer with tops {want}")])]
    rows = []
    kinds = {fl.type for fl in feed} | ({"input fields"} if fnet.legacy_inputs else set())
    if len(kinds) > 1:
        rows.append(LayerRow("(data)", "-", [Difference("(data)", "feed", " and ".join(sorted(kinds)),
                                                         "one kind of data layer")]))
    tops: dict[str, tuple[str, int, FileLayer | None, int]] = {}  # layer top -> (reader top, line, layer, index)
    for top in fnet.legacy_inputs:
        tops[top] = (top, fnet.legacy_line, None, -1)
    for fl in feed:
        for i, (top, rtop) in enumerate(zip(fl.top, reader_tops(fl), strict=True)):
            tops[top] = (rtop, fl.line_of("top"), fl, i)
    for fl in feed or [None]:
        name = fl.name if fl is not None else "(input fields)"
        row = LayerRow(name, fl.type if fl is not None else "input")
        mine = [t for t, v in tops.items() if v[2] is fl]
        for top in mine:
            rtop, line, _, i = tops[top]
            if top not in expected:
                row.differences.append(Difference(name, "top", top, f"(none: the kit's data tops are "
                                                                    f"{', '.join(expected)})", line))
            elif rtop != expected[top]:
                row.differences.append(Difference(name, f"python_param.param_str tops[{i}]", f"{rtop!r}",
                                                  f"{expected[top]!r} (the reader top that feeds blob {top!r})",
                                                  fl.line_of("python_param.param_str")))
            if fl is not None and fl.type == "Input" and top in channels:
                shape = fl.input_shapes[i] if i < len(fl.input_shapes) else ()
                got = shape[1] if len(shape) >= 2 else None
                if got != channels[top]:
                    row.differences.append(Difference(name, f"input_param.shape[{i}].dim[1]", _t(got),
                                                      f"{channels[top]} (channels of {top!r})",
                                                      fl.line_of("input_param.shape")))
        if fl is not None and fl.type == "Python":
            row.differences += _python_params(fl, mean)
        rows.append(row)
    for top, rtop in expected.items():
        if top not in tops:
            rows[-1].differences.append(Difference(rows[-1].name, "top", "(absent)",
                                                   f"{top!r} (reader top {rtop!r})"))
    return rows


def _python_params(fl: FileLayer, mean: object) -> list[Difference]:
    """A Python data layer's param_str: a dict literal, whose colour mean (where it gives one) is the kit's."""
    import numpy as np

    info = fl.python or {}
    line = fl.line_of("python_param.param_str")
    if info.get("error"):
        return [Difference(fl.name, "python_param.param_str", info["error"], "a Python dict literal", line)]
    params = info.get("params") or {}
    out = []
    if "mean" in params:
        try:
            given = np.asarray(params["mean"], dtype=np.float32)
        except (TypeError, ValueError):
            given = None
        kit = np.asarray(mean, dtype=np.float32)
        if given is None or given.shape != kit.shape or not np.array_equal(given, kit):
            out.append(Difference(fl.name, "python_param.param_str mean", _t(params["mean"]),
                                  _t(tuple(float(f"{x:.5f}") for x in kit)), line))
    return out


def _loss_rows(fnet: FileNet, spec: NetSpec, net: str) -> list[LayerRow]:
    """The file's SoftmaxWithLoss layers against the kit's losses."""
    kit = {name: (score, label) for name, score, label in spec.losses}
    rows = []
    matched = set()
    for fl in fnet.losses:
        row = LayerRow(fl.name, fl.type)
        key = fl.name if fl.name in kit else next((n for n, (s, _) in kit.items() if fl.bottom[:1] == (s,)
                                                   and n not in matched), None)
        if key is None:
            row.differences.append(Difference(fl.name, "layer", "a loss", "(none: the kit's losses are "
                                                                          f"{', '.join(kit) or 'none'})", fl.line))
            rows.append(row)
            continue
        matched.add(key)
        score, label = kit[key]
        loss = fl.loss or {}
        checks = [("name", fl.name, key, fl.line), ("bottom", fl.bottom, (score, label), fl.line_of("bottom")),
                  ("top", fl.top, (key,), fl.line_of("top")),
                  ("loss_param.ignore_label", loss.get("ignore_label"), IGNORE_LABEL,
                   fl.line_of("loss_param.ignore_label")),
                  ("loss_param.normalize", _normalize_text(loss.get("normalization")),
                   _normalize_text(_kit_normalization(net)), fl.line_of("loss_param.normalization")),
                  ("loss_weight", loss.get("loss_weight"), 1.0, fl.line_of("loss_weight"))]
        for label_, mine, theirs, line in checks:
            if mine != theirs:
                row.differences.append(Difference(fl.name, label_, _t(mine), _t(theirs), line))
        row.differences += [Difference(fl.name, s.path, s.value, "(not set)", s.line) for s in fl.settings
                            if s.effect == "unsupported"]
        rows.append(row)
    for name in kit:
        if name not in matched:
            rows.append(LayerRow(name, "SoftmaxWithLoss", [Difference(name, "layer", "(absent)",
                                                                      f"SoftmaxWithLoss({', '.join(kit[name])})")]))
    return rows


def _normalize_text(normalization: str | None) -> str:
    """Caffe's normalization as the reference's files spell it (the legacy normalize flag)."""
    return {"VALID": "true (VALID)", "BATCH_SIZE": "false (BATCH_SIZE)"}.get(normalization or "",
                                                                            str(normalization))


def audit_file(path: str | os.PathLike, net: str, text: str | None = None, fnet: FileNet | None = None
               ) -> FileAudit:
    """Compare one prototxt with the kit's net ``net``."""
    import nets

    spec = nets.spec(net)
    fnet = fnet or read_net(path, text)
    # A deploy file feeds Input layers and has no loss; a file with a Python data layer is a training or
    # scoring net, which the reference always closes with its losses.
    deploy = not fnet.losses and not any(fl.type == "Python" for fl in fnet.feed)
    role = "deploy" if deploy else "train/val"
    rows: list[LayerRow] = _feed_rows(fnet, spec, net, with_labels=not deploy)
    absent_dropout = []
    for fl, kit, how in _align(fnet.body, spec.layers):
        if fl is None:
            if deploy and kit.type == "Dropout":
                absent_dropout.append(kit.name)
                rows.append(LayerRow(kit.name, kit.type, note="absent: identity at test time (deploy file)"))
                continue
            rows.append(LayerRow(kit.name, kit.type, [Difference(kit.name, "layer", "(absent)",
                                                                 f"{kit.type}({', '.join(kit.bottom)})")]))
            continue
        if kit is None:
            rows.append(LayerRow(fl.name, fl.type, [Difference(fl.name, "layer", f"{fl.type} (line {fl.line})",
                                                               "(absent: not in the kit's net)", fl.line)]))
            continue
        row = LayerRow(fl.name, fl.type, compare_layer(fl, kit))
        if how == "moved":
            row.differences.insert(0, Difference(fl.name, "position", "elsewhere in the file",
                                                 "elsewhere in the kit's net (the order differs)", fl.line))
        row.note = "; ".join(f"{s.path}: {s.why}" for s in fl.settings if s.effect == "inert")
        rows.append(row)
    # SIFT Flow's reference files put each loss right after its score layer: order of losses does not matter.
    if not deploy:
        rows += _loss_rows(fnet, spec, net)
    notes = _file_geometry(fnet, spec)
    if absent_dropout:
        notes.append(f"{', '.join(absent_dropout)} absent (Dropout is the identity at test time; the "
                     "reference's deploy.prototxt leaves it out too)")
    return FileAudit(str(path), net, role, rows, notes, len(fnet.body))


def _file_geometry(fnet: FileNet, spec: NetSpec) -> list[str]:
    """Notes on the file's own geometry: crops whose written offset differs from what the file's layers derive
    (a changed pad or kernel upstream moves the alignment even where the crop itself matches the kit)."""
    from nets import geometry
    from nets.prototxt import crop_disagreements

    body = fnet.body
    if any(fl.layer is None for fl in body):
        return []
    inputs = {top: 3 for fl in fnet.feed for top in fl.top} | dict(spec.inputs) | \
        {t: 3 for t in fnet.legacy_inputs}
    own = NetSpec(spec.name, inputs, tuple(fl.layer for fl in body), ())
    try:
        wrong = crop_disagreements(fnet, own)
    except (geometry.GeometryError, KeyError) as e:
        return [f"the file's own layers give no consistent crop offsets: {e}"]
    return [f"geometry of the file's layers: {w}" for w in wrong]


def guess_net(path: str | os.PathLike, fnet: FileNet | None = None) -> tuple[str, str]:
    """The kit net a file most likely describes, and why: the folder it sits in when that is a kit net's name
    (the reference's layout), else the net it differs from least."""
    import nets

    for part in reversed(Path(path).resolve().parent.parts[-2:]):
        if part in nets.NAMES:
            return part, f"the folder is named {part}"
    fnet = fnet or read_net(path)
    counts = {}
    for name in nets.NAMES:
        counts[name] = len(audit_file(path, name, fnet=fnet).differences)
    best = min(nets.NAMES, key=lambda n: counts[n])
    return best, f"the closest of the kit's nets ({counts[best]} difference(s))"


# ---- printing -----------------------------------------------------------------------------------------


def format_audit(audit: FileAudit) -> str:
    """The layer-by-layer report: one line per layer, each difference on its own line under it."""
    width = max([len(r.name) for r in audit.rows] + [5])
    twidth = max([len(r.type) for r in audit.rows] + [4])
    lines = []
    for r in audit.rows:
        status = "DIFFERS" if r.differences else ("ok" if not r.note else f"ok  ({r.note})")
        lines.append(f"  {r.name:<{width}}  {r.type:<{twidth}}  {status}".rstrip())
        for d in r.differences:
            where = f"  (line {d.line})" if d.line else ""
            lines.append(f"  {'':<{width}}    {d.field}: file {d.file}, kit {d.kit}{where}")
    for n in audit.notes:
        lines.append(f"  note: {n}")
    n = len(audit.differences)
    verdict = (f"equivalent to the kit's {audit.net}" if not n
               else f"{n} difference(s) from the kit's {audit.net}")
    lines.append(f"{audit.path}: {verdict}")
    return "\n".join(lines)


# ---- the reference release's layout -------------------------------------------------------------------

def reference_files(net: str) -> tuple[str, ...]:
    """The net prototxts the reference release has in a net's folder (ledger: reference.prototxts)."""
    files = ("trainval.prototxt", "test.prototxt") if net.startswith(("nyud-", "siftflow-")) else \
        ("train.prototxt", "val.prototxt")
    return files + (("deploy.prototxt",) if net == "voc-fcn8s" else ())


REFERENCE_FILES = reference_files  # the function is the table: one rule per family


@dataclass
class RepoLine:
    file: str
    status: str  # "ok", "DIFFERS", "MISSING", "skipped", "ERROR"
    text: str
    audit: FileAudit | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("DIFFERS", "MISSING", "ERROR")


def audit_reference_repo(root: str | os.PathLike) -> list[RepoLine]:
    """One line per prototxt of a checkout of the reference release: every kit net's folder, every net file in
    it (solver files are named and skipped), missing folders and files reported."""

    from nets.prototxt import PrototxtError

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder at {root}; give a checkout of the reference release (one folder per "
                                "net: voc-fcn8s/, nyud-fcn32s-color/, ...)")
    out: list[RepoLine] = []
    for net in REFERENCE_NAMES:  # the paper-only nets (voc-fcn-googlenet) have no folder in the release
        folder = root / net
        if not folder.is_dir():
            out.append(RepoLine(f"{net}/", "MISSING", "no folder for this net"))
            continue
        present = sorted(p.name for p in folder.glob("*.prototxt"))
        for name in sorted(set(present) | set(reference_files(net))):
            rel = f"{net}/{name}"
            path = folder / name
            if name.startswith("solver"):
                out.append(RepoLine(rel, "skipped", "a SolverParameter, not a net"))
                continue
            if not path.is_file():
                out.append(RepoLine(rel, "MISSING", "the reference release has this file"))
                continue
            try:
                audit = audit_file(path, net)
            except (PrototxtError, ValueError) as e:
                out.append(RepoLine(rel, "ERROR", str(e).splitlines()[0]))
                continue
            if audit.equivalent:
                extra = f"; {'; '.join(audit.notes)}" if audit.notes else ""
                out.append(RepoLine(rel, "ok", f"equivalent to {net} ({_describe(audit)}{extra})", audit))
            else:
                first = audit.differences[0]
                more = f" (+{len(audit.differences) - 1} more)" if len(audit.differences) > 1 else ""
                out.append(RepoLine(rel, "DIFFERS", f"{first}{more}", audit))
    others = sorted(p for p in root.glob("*/*.prototxt") if p.parent.name not in REFERENCE_NAMES)
    for p in others:
        out.append(RepoLine(f"{p.parent.name}/{p.name}", "skipped",
                            f"{p.parent.name} is not one of the reference release's nets"))
    return out


def _describe(audit: FileAudit) -> str:
    losses = sum(1 for r in audit.rows if r.type == "SoftmaxWithLoss")
    return f"{audit.role}, {audit.file_layers} layers" + (f", {losses} loss layer{'s' if losses > 1 else ''}"
                                                         if losses else "")


def format_repo(lines: Sequence[RepoLine]) -> str:
    width = max(len(x.file) for x in lines) if lines else 10
    out = [f"{x.file:<{width}}  {x.status:<7}  {x.text}" for x in lines]
    for x in lines:
        if x.status == "DIFFERS" and x.audit is not None:
            out.append(f"\n{x.file}:")
            out += [f"  {d}" for d in x.audit.differences]
    audited = [x for x in lines if x.audit is not None or x.status in ("MISSING", "ERROR")]
    failed = [x for x in lines if x.failed]
    out.append(f"\nreference release audit: {len(audited)} net file(s) checked, {len(failed)} with a problem")
    return "\n".join(out)

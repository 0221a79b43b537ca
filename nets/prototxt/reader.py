"""The prototxt reader: a Caffe NetParameter in protobuf text format (read by nets.prototxt.textformat, checked
against nets.prototxt.schema) into FileLayers, one per ``layer { }``, with Caffe's defaults applied and every
field's line kept. What the kit makes of them (a NetSpec, a CaffeNet) is nets.prototxt.build's business; the
prototxt audit reads files with it too: ``read_net(path)`` gives a FileNet whose layers carry their kit Layer
(for the types the kit computes), every other setting with its effect, and the line of each field.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..spec import Layer
from .schema import DEFAULT_MULTIPLIERS, LAYER_FIELDS, NET_FIELDS, SCHEMAS, TYPE_PARAMS
from .textformat import Field, Message, PrototxtError, Scalar, parse

__all__ = ["FEED_TYPES", "KIT_TYPES", "LOSS_TYPES", "FileLayer", "FileNet", "Setting", "read_net"]

# Layer types the kit computes (nets.net.CaffeNet), and the feed / loss types a net file wraps them in.
KIT_TYPES = ("Convolution", "Deconvolution", "Pooling", "ReLU", "Dropout", "LRN", "Crop", "Eltwise", "Scale",
             "Concat")
FEED_TYPES = ("Input", "Python")
LOSS_TYPES = ("SoftmaxWithLoss",)


@dataclass(frozen=True)
class Setting:
    """Something the file sets that the kit's Layer does not hold.

    ``effect``: "unsupported" (changes what the layer computes: from_prototxt refuses it), "filler" (only the
    initial values of an untrained net), or "inert" (Caffe ignores it for this layer type)."""

    path: str
    value: str
    line: int
    effect: str
    why: str = ""


@dataclass
class FileLayer:
    """One layer of a prototxt: the kit Layer it reads as (for types the kit implements) and everything else."""

    name: str
    type: str
    bottom: tuple[str, ...]
    top: tuple[str, ...]
    line: int
    col: int = 1
    source: str = "<string>"
    layer: Layer | None = None
    lines: dict[str, int] = field(default_factory=dict)  # field label -> the line that sets it
    settings: list[Setting] = field(default_factory=list)
    python: dict | None = None  # module, layer, param_str, params (the param_str dict or None), error
    input_shapes: tuple[tuple[int, ...], ...] = ()
    loss: dict | None = None  # ignore_label (None: not set), normalization, loss_weight

    def line_of(self, label: str) -> int:
        return self.lines.get(label, self.line)


@dataclass
class FileNet:
    """A whole prototxt, read: its layers in file order and the legacy top-level inputs."""

    source: str
    name: str | None
    layers: list[FileLayer]
    legacy_inputs: dict[str, tuple[int, ...]]
    legacy_line: int = 0

    @property
    def feed(self) -> list[FileLayer]:
        return [x for x in self.layers if x.type in FEED_TYPES]

    @property
    def losses(self) -> list[FileLayer]:
        return [x for x in self.layers if x.type in LOSS_TYPES]

    @property
    def body(self) -> list[FileLayer]:
        """Every layer but the feed and the losses: what a kit NetSpec holds."""
        return [x for x in self.layers if x.type not in FEED_TYPES + LOSS_TYPES]


# ---- typed values ---------------------------------------------------------------------------------------

Values = dict[str, list[tuple[object, Field]]]


def _is_hex(text: str) -> bool:
    return text.lstrip("-").lower().startswith("0x")


def _value(msg: Message, f: Field, kind: object) -> object:
    """The value of ``f`` as Caffe's field kind ``kind``; a PrototxtError at its line and column otherwise."""
    if kind == "msg":
        if not isinstance(f.value, Message):
            raise msg.error(f, f"{f.name!r} is a message: write {f.name} {{ ... }}, not {f.name}: {f.value.text}")
        return f.value
    if not isinstance(f.value, Scalar):
        raise msg.error(f, f"{f.name!r} takes a value ({f.name}: ...), found a message {{ ... }}")
    v = f.value
    if kind == "str":
        if v.kind != "string":
            raise msg.error(v, f"{f.name!r} takes a quoted string, found {v.text}; write {f.name}: \"{v.text}\"")
        return v.text
    if kind == "int":
        plain = v.kind == "number" and (_is_hex(v.text) or not any(c in v.text.lower() for c in ".ef"))
        if not plain:
            raise msg.error(v, f"{f.name!r} takes an integer, found {v.text}")
        return int(v.text, 16) if _is_hex(v.text) else int(v.text)
    if kind == "float":
        if v.kind == "number":
            if _is_hex(v.text):
                return float(int(v.text, 16))
            return float(v.text[:-1] if v.text.lower().endswith("f") else v.text)
        if v.kind == "identifier" and v.text.lower().lstrip("-") in ("inf", "infinity", "nan"):
            return float(v.text)
        raise msg.error(v, f"{f.name!r} takes a number, found {v.text}")
    if kind == "bool":
        if v.text in ("true", "True", "t", "1"):
            return True
        if v.text in ("false", "False", "f", "0"):
            return False
        raise msg.error(v, f"{f.name!r} takes true or false, found {v.text}")
    names = kind[1]
    if v.kind == "identifier" and v.text in names:
        return v.text
    if v.kind == "number" and v.text.isdigit() and int(v.text) < len(names):
        return names[int(v.text)]
    raise msg.error(v, f"{f.name!r} takes one of {', '.join(names)}, found {v.text}")


def _read(msg: Message, schema: Mapping[str, tuple[object, bool]], what: str,
          extra_ok: Callable[[str], bool] = lambda name: False) -> Values:
    """Check ``msg`` against ``schema`` (an unknown field, or a singular field set twice, is an error) and
    return name -> [(value, field), ...]."""
    out: Values = {}
    for f in msg.fields:
        if f.name not in schema:
            if extra_ok(f.name):
                continue
            raise msg.error(f, f"{what} has no field {f.name!r}; its fields are: {', '.join(schema)}")
        kind, repeated = schema[f.name]
        if not repeated and f.name in out:
            raise msg.error(f, f"{what}: {f.name!r} is set twice (lines {out[f.name][0][1].line} and {f.line}); "
                               "it takes one value")
        out.setdefault(f.name, []).append((_value(msg, f, kind), f))
    return out


def _one(values: Values, name: str, default: object = None) -> object:
    return values[name][0][0] if name in values else default


def _all(values: Values, name: str) -> list:
    return [v for v, _ in values.get(name, [])]


def _line(values: Values, name: str, default: int) -> int:
    return values[name][0][1].line if name in values else default


def _text(v: object) -> str:
    """A value as a prototxt would write it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, tuple | list):
        return "[" + ", ".join(_text(x) for x in v) + "]"
    return str(v)


# ---- one layer ------------------------------------------------------------------------------------------


class _LayerReader:
    """Reads one ``layer { }`` message into a FileLayer."""

    def __init__(self, msg: Message, index: int):
        self.msg = msg
        top = _read(msg, LAYER_FIELDS, f"layer {index + 1}", extra_ok=lambda n: n.endswith("_param"))
        name, ltype = _one(top, "name"), _one(top, "type")
        if name is None:
            raise msg.error(msg, f"layer {index + 1} (opened here) has no name; every layer needs name: \"...\"")
        if ltype is None:
            raise msg.error(msg, f"layer {name!r} has no type; add type: \"...\" (e.g. \"Convolution\")")
        self.top = top
        self.fl = fl = FileLayer(name, ltype, tuple(_all(top, "bottom")), tuple(_all(top, "top")), msg.line,
                                 msg.col, msg.source)
        for key in ("type", "bottom", "top", "loss_weight"):
            fl.lines[key] = _line(top, key, msg.line)
        self.sub: dict[str, Values] = {}
        self.params = top.get("param", [])
        fl.lines["param"] = self.params[0][1].line if self.params else msg.line
        wanted = TYPE_PARAMS.get(ltype, ())
        for f in msg.fields:
            if not f.name.endswith("_param"):
                continue
            if f.name not in wanted:
                if ltype in TYPE_PARAMS:
                    fl.settings.append(Setting(f.name, "{ ... }", f.line, "inert",
                                               f"a {ltype} layer does not read {f.name}; Caffe ignores it"))
                continue
            if f.name in self.sub:
                raise msg.error(f, f"layer {name!r}: {f.name} is set twice; merge the two blocks")
            if not isinstance(f.value, Message):
                raise msg.error(f, f"layer {name!r}: {f.name} is a message: write {f.name} {{ ... }}")
            self.sub[f.name] = _read(f.value, SCHEMAS[f.name], f"layer {name!r} {f.name}")
            fl.lines[f.name] = f.line
        for key in ("phase", "include", "exclude", "blobs", "propagate_down"):
            if key in top:
                fl.settings.append(Setting(key, "set", top[key][0][1].line, "unsupported",
                                           "phase rules, blobs stored in the net file and propagate_down are not "
                                           "implemented"))
        if "loss_weight" in top and ltype not in LOSS_TYPES:
            fl.settings.append(Setting("loss_weight", _text(_all(top, "loss_weight")), fl.lines["loss_weight"],
                                       "unsupported", "a loss weight on a layer that is not a loss"))

    # helpers
    def error(self, line: int, text: str) -> PrototxtError:
        return PrototxtError(self.fl.source, line, 0, f"layer {self.fl.name!r} ({self.fl.type}): {text}")

    def p(self, block: str) -> Values:
        return self.sub.get(block, {})

    def note(self, block: str, values: Values, *names: str) -> None:
        """Remember the lines of ``block.name`` fields (the block's own line where they are defaults)."""
        for name in names:
            self.fl.lines[f"{block}.{name}"] = _line(values, name, self.fl.lines.get(block, self.fl.line))

    def unsupported(self, path: str, value: object, line: int, why: str) -> None:
        self.fl.settings.append(Setting(path, _text(value), line, "unsupported", why))

    def unless(self, block: str, values: Values, name: str, ok: object, why: str) -> None:
        v = _one(values, name)
        if v is not None and v != ok:
            self.unsupported(f"{block}.{name}", v, _line(values, name, self.fl.line), why)

    def square(self, block: str, values: Values, name: str, default: int) -> int:
        """A 2-D spatial setting: ``name`` (one value for both axes, or one per axis) or its _h / _w fields."""
        label = f"{block}.{name}"
        listed = _all(values, name)
        stem = name.replace("_size", "")  # kernel_size's per-axis fields are kernel_h and kernel_w
        h, w = _one(values, f"{stem}_h"), _one(values, f"{stem}_w")
        line = _line(values, name, _line(values, f"{stem}_h", _line(values, f"{stem}_w",
                                                                     self.fl.lines.get(block, self.fl.line))))
        self.fl.lines[label] = line
        if listed and (h is not None or w is not None):
            raise self.error(line, f"{block} sets both {name} and {stem}_h/{stem}_w; Caffe takes one or the other")
        if len(listed) > 2:
            raise self.error(line, f"{block}.{name} has {len(listed)} values; a 2-D layer takes one, or one per "
                                   "spatial axis")
        if h is not None or w is not None:
            pair = (default if h is None else h, default if w is None else w)
        else:
            pair = (listed[0], listed[-1]) if listed else (default, default)
        if pair[0] != pair[1]:
            self.unsupported(label, f"{pair[0]} x {pair[1]}", line,
                             "the kit's layers are square (one value for height and width)")
        return pair[0]

    def fillers(self, block: str, values: Values, keep_constant: str | None = None) -> dict[str, tuple]:
        """Record every filler the block sets (the one named ``keep_constant`` is modelled when constant);
        returns name -> (type, value)."""
        out = {}
        for name in ("weight_filler", "bias_filler", "filler"):
            if name not in values:
                continue
            msg, f = values[name][0]
            fv = _read(msg, SCHEMAS["filler"], f"layer {self.fl.name!r} {block}.{name}")
            ftype, fvalue = _one(fv, "type", "constant"), _one(fv, "value", 0.0)
            out[name] = (ftype, fvalue)
            self.fl.lines[f"{block}.{name}"] = f.line
            if name == keep_constant and ftype == "constant":
                continue
            desc = " ".join(f"{k}: {_text(v[0][0]) if k != 'type' else repr(v[0][0])}" for k, v in fv.items())
            self.fl.settings.append(Setting(f"{block}.{name}", "{ " + (desc or "type: 'constant'") + " }", f.line,
                                            "filler", "initial values of an untrained net (the kit starts from "
                                                      "Caffe's default, constant 0, and loads weights)"))
        return out

    def multipliers(self, blobs: int) -> tuple[tuple[float, float], ...]:
        """(lr_mult, decay_mult) per parameter blob, Caffe's defaults (1, 1) where the file gives no param."""
        out = []
        for i, (msg, f) in enumerate(self.params):
            if i >= blobs:
                raise self.error(f.line, f"{len(self.params)} param blocks for {blobs} parameter blob(s); Caffe "
                                         "refuses this: remove the extra param blocks")
            pv = _read(msg, SCHEMAS["param"], f"layer {self.fl.name!r} param")
            for key in ("name", "share_mode"):
                if key in pv:
                    self.unsupported(f"param[{i}].{key}", _one(pv, key), _line(pv, key, f.line),
                                     "shared parameter blobs are not implemented")
            self.fl.lines[f"param[{i}].lr_mult"] = _line(pv, "lr_mult", f.line)
            self.fl.lines[f"param[{i}].decay_mult"] = _line(pv, "decay_mult", f.line)
            out.append((float(_one(pv, "lr_mult", 1.0)), float(_one(pv, "decay_mult", 1.0))))
        return tuple(out) + (DEFAULT_MULTIPLIERS,) * (blobs - len(out))

    def no_params(self) -> None:
        if self.params:
            self.fl.settings.append(Setting("param", "{ ... }", self.params[0][1].line, "inert",
                                            f"a {self.fl.type} layer has no parameter blobs"))

    # one method per type
    def read(self) -> FileLayer:
        method = getattr(self, f"read_{self.fl.type}", None)
        if method is not None:
            method()
        return self.fl

    def read_Convolution(self) -> None:
        block = "convolution_param"
        p = self.p(block)
        self.note(block, p, "num_output", "group", "bias_term", "axis", "dilation")
        if "num_output" not in p:
            raise self.error(self.fl.lines.get(block, self.fl.line), f"{block}.num_output is not set")
        if "kernel_size" not in p and "kernel_h" not in p and "kernel_w" not in p:
            raise self.error(self.fl.lines.get(block, self.fl.line),
                             f"{block} has no kernel_size (or kernel_h and kernel_w)")
        k = self.square(block, p, "kernel_size", 0)
        pad = self.square(block, p, "pad", 0)
        stride = self.square(block, p, "stride", 1)
        dilation = _all(p, "dilation")
        if any(d != 1 for d in dilation):
            self.unsupported(f"{block}.dilation", dilation, self.fl.lines[f"{block}.dilation"],
                             "dilated convolution is not implemented")
        self.unless(block, p, "axis", 1, "only channel axis 1 is implemented")
        bias = bool(_one(p, "bias_term", True))
        if self.fl.type == "Deconvolution" and bias:
            self.unsupported(f"{block}.bias_term", True, self.fl.lines[f"{block}.bias_term"],
                             "a Deconvolution with a bias is not implemented (the FCN upsamplers have none); "
                             "set bias_term: false")
        self.fillers(block, p)
        layer = Layer(self.fl.name, self.fl.type, self.fl.bottom, self.fl.top, num_output=_one(p, "num_output"),
                      kernel_size=k, stride=stride, pad=pad, group=_one(p, "group", 1), bias_term=bias)
        self.fl.layer = replace(layer, param=self.multipliers(2 if bias else 1))

    read_Deconvolution = read_Convolution

    def read_Pooling(self) -> None:
        block = "pooling_param"
        p = self.p(block)
        self.note(block, p, "pool")
        if _one(p, "global_pooling", False):
            self.unsupported(f"{block}.global_pooling", True, _line(p, "global_pooling", self.fl.line),
                             "global pooling is not implemented")
        elif "kernel_size" not in p and "kernel_h" not in p and "kernel_w" not in p:
            raise self.error(self.fl.lines.get(block, self.fl.line), f"{block} has no kernel_size")
        k = self.square(block, p, "kernel_size", 1)
        pad = self.square(block, p, "pad", 0)
        stride = self.square(block, p, "stride", 1)
        self.unless(block, p, "round_mode", "CEIL", "Caffe's pooling rounds up (CEIL); FLOOR is not implemented")
        self.unless(block, p, "ceil_mode", True, "Caffe's pooling rounds up; ceil_mode false is not implemented")
        pool = _one(p, "pool", "MAX")
        if pool != "MAX":
            self.unsupported(f"{block}.pool", pool, self.fl.lines[f"{block}.pool"],
                             "only MAX pooling is implemented (the FCNs use no other)")
        self.no_params()
        self.fl.layer = Layer(self.fl.name, "Pooling", self.fl.bottom, self.fl.top, kernel_size=k, stride=stride,
                              pad=pad, pool=pool)

    def read_Dropout(self) -> None:
        p = self.p("dropout_param")
        self.note("dropout_param", p, "dropout_ratio")
        self.no_params()
        self.fl.layer = Layer(self.fl.name, "Dropout", self.fl.bottom, self.fl.top,
                              dropout_ratio=float(_one(p, "dropout_ratio", 0.5)))

    def read_Crop(self) -> None:
        block = "crop_param"
        p = self.p(block)
        self.note(block, p, "axis", "offset")
        axis, offsets = _one(p, "axis", 2), _all(p, "offset")
        if axis != 2:
            self.unsupported(f"{block}.axis", axis, self.fl.lines[f"{block}.axis"],
                             "the kit crops height and width (axis 2) only")
        if len(offsets) > 2:
            raise self.error(self.fl.lines[f"{block}.offset"], f"{len(offsets)} offsets for the axes from 2 of a "
                                                               "4-D blob; give one, or one per axis")
        if len(offsets) == 2 and offsets[0] != offsets[1]:
            self.unsupported(f"{block}.offset", offsets, self.fl.lines[f"{block}.offset"],
                             "the kit crops height and width by one offset")
        if len(self.fl.bottom) != 2:
            raise self.error(self.fl.lines["bottom"], "a Crop needs two bottoms (the blob, then the blob whose "
                                                      f"size it takes), found {list(self.fl.bottom)}")
        self.no_params()
        self.fl.layer = Layer(self.fl.name, "Crop", self.fl.bottom, self.fl.top, axis=axis,
                              offset=offsets[0] if offsets else 0)

    def read_Eltwise(self) -> None:
        block = "eltwise_param"
        p = self.p(block)
        self.note(block, p, "operation", "coeff")
        op, coeff = _one(p, "operation", "SUM"), tuple(float(c) for c in _all(p, "coeff"))
        if coeff and len(coeff) != len(self.fl.bottom):
            raise self.error(self.fl.lines[f"{block}.coeff"], f"{len(coeff)} coefficients for "
                                                              f"{len(self.fl.bottom)} bottoms; Caffe needs one each")
        if op != "SUM":
            self.unsupported(f"{block}.operation", op, self.fl.lines[f"{block}.operation"],
                             "only Eltwise SUM is implemented")
        self.no_params()
        self.fl.layer = Layer(self.fl.name, "Eltwise", self.fl.bottom, self.fl.top, operation=op, coeff=coeff)

    def read_Scale(self) -> None:
        block = "scale_param"
        p = self.p(block)
        self.note(block, p, "axis", "num_axes", "bias_term", "filler")
        self.unless(block, p, "axis", 1, "only a per-channel Scale (axis 1) is implemented")
        self.unless(block, p, "num_axes", 1, "only a per-channel Scale (num_axes 1) is implemented")
        bias = bool(_one(p, "bias_term", False))
        if bias:
            self.unsupported(f"{block}.bias_term", True, self.fl.lines[f"{block}.bias_term"],
                             "a Scale with a bias is not implemented")
        if len(self.fl.bottom) != 1:
            self.unsupported("bottom", list(self.fl.bottom), self.fl.lines["bottom"],
                             "a Scale whose factors come from a second bottom is not implemented")
        fills = self.fillers(block, p, keep_constant="filler")
        ftype, fvalue = fills.get("filler", ("constant", 1.0))  # no filler: Caffe fills a Scale with 1
        layer = Layer(self.fl.name, "Scale", self.fl.bottom, self.fl.top, bias_term=bias,
                      scale_value=float(fvalue) if ftype == "constant" else None)
        self.fl.layer = replace(layer, param=self.multipliers(2 if bias else 1))

    def read_LRN(self) -> None:
        block = "lrn_param"
        p = self.p(block)
        self.note(block, p, "local_size", "alpha", "beta", "k")
        self.unless(block, p, "norm_region", "ACROSS_CHANNELS", "only LRN across channels is implemented")
        self.no_params()
        self.fl.layer = Layer(self.fl.name, "LRN", self.fl.bottom, self.fl.top, local_size=_one(p, "local_size", 5),
                              alpha=float(_one(p, "alpha", 1.0)), beta=float(_one(p, "beta", 0.75)),
                              k=float(_one(p, "k", 1.0)))

    def read_Concat(self) -> None:
        block = "concat_param"
        p = self.p(block)
        axis = _one(p, "axis", _one(p, "concat_dim", 1))
        self.fl.lines[f"{block}.axis"] = _line(p, "axis", _line(p, "concat_dim", self.fl.lines.get(block,
                                                                                                   self.fl.line)))
        if axis != 1:
            self.unsupported(f"{block}.axis", axis, self.fl.lines[f"{block}.axis"],
                             "only concatenation along channels (axis 1) is implemented")
        self.no_params()
        self.fl.layer = Layer(self.fl.name, "Concat", self.fl.bottom, self.fl.top, concat_axis=axis)

    def read_ReLU(self) -> None:
        self.unless("relu_param", self.p("relu_param"), "negative_slope", 0.0, "a leaky ReLU is not implemented")
        self.no_params()
        self.fl.layer = Layer(self.fl.name, "ReLU", self.fl.bottom, self.fl.top)

    def read_Input(self) -> None:
        p = self.p("input_param")
        shapes = [tuple(_all(_read(m, SCHEMAS["shape"], f"layer {self.fl.name!r} input_param.shape"), "dim"))
                  for m in _all(p, "shape")]
        if len(shapes) not in (1, len(self.fl.top)):
            raise self.error(self.fl.lines.get("input_param", self.fl.line),
                             f"{len(shapes)} shapes for {len(self.fl.top)} tops; give one shape per top, or one "
                             "for all")
        self.fl.input_shapes = tuple(shapes * len(self.fl.top) if len(shapes) == 1 else shapes)
        self.fl.lines["input_param.shape"] = self.fl.lines.get("input_param", self.fl.line)

    def read_Python(self) -> None:
        p = self.p("python_param")
        text = _one(p, "param_str", "")
        info = {"module": _one(p, "module"), "layer": _one(p, "layer"), "param_str": text, "params": None,
                "error": None}
        self.note("python_param", p, "param_str", "module", "layer")
        if text:
            try:
                parsed = ast.literal_eval(text)  # a Python literal, read, never executed
            except (ValueError, SyntaxError) as e:
                info["error"] = f"param_str is not a Python literal ({type(e).__name__}: {e})"
            else:
                if isinstance(parsed, dict):
                    info["params"] = parsed
                else:
                    info["error"] = f"param_str is a Python {type(parsed).__name__}, not a dict"
        self.fl.python = info

    def read_SoftmaxWithLoss(self) -> None:
        p = self.p("loss_param")
        normalize = _one(p, "normalize")
        # Caffe: the legacy normalize flag, when set, overrides normalization (true: VALID, false: BATCH_SIZE).
        if normalize is not None:
            normalization = "VALID" if normalize else "BATCH_SIZE"
            self.fl.lines["loss_param.normalization"] = _line(p, "normalize", self.fl.line)
        else:
            normalization = _one(p, "normalization", "VALID")
            self.note("loss_param", p, "normalization")
        self.note("loss_param", p, "ignore_label")
        weights = _all(self.top, "loss_weight")
        self.fl.loss = {"ignore_label": _one(p, "ignore_label"), "normalization": normalization,
                        "loss_weight": float(weights[0]) if weights else 1.0}
        self.unless("softmax_param", self.p("softmax_param"), "axis", 1, "the softmax runs over channels (axis 1)")


def read_net(source: str | os.PathLike, text: str | None = None) -> FileNet:
    """Read a NetParameter prototxt (a path, or ``text`` with ``source`` naming it) into FileLayers, with
    Caffe's defaults applied. Syntax errors and malformed fields raise PrototxtError naming line and column."""
    name = str(source)
    if text is None:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no prototxt at {path}")
        text = path.read_text(encoding="utf-8")
    msg = parse(text, name)
    if msg.all("layers"):
        raise msg.error(msg.all("layers")[0], "this is the old V1 format ('layers' with enum types); upgrade it "
                                              "with Caffe's tools/upgrade_net_proto_text, then read the result")
    solver = [f for f in msg.fields if f.name in ("base_lr", "lr_policy", "train_net", "net", "max_iter")]
    if solver:
        raise msg.error(solver[0], "this is a SolverParameter (a solver.prototxt), not a net; give the "
                                   "train/val/deploy prototxt it names")
    top = _read(msg, NET_FIELDS, "NetParameter")
    layers = [_LayerReader(m, i).read() for i, m in enumerate(_all(top, "layer"))]
    names = _all(top, "input")
    shapes = [tuple(_all(_read(m, SCHEMAS["shape"], "input_shape"), "dim")) for m in _all(top, "input_shape")]
    dims = _all(top, "input_dim")
    if dims:
        if len(dims) != 4 * len(names):
            raise msg.error(top["input_dim"][0][1], f"{len(dims)} input_dim values for {len(names)} inputs; Caffe "
                                                    "needs four (N, C, H, W) per input")
        shapes = [tuple(dims[4 * i:4 * i + 4]) for i in range(len(names))]
    if names and len(shapes) != len(names):
        raise msg.error(top["input"][0][1], f"{len(names)} inputs but {len(shapes)} shapes; give one input_shape "
                                            "(or four input_dim) per input")
    seen: dict[str, int] = {}
    for fl in layers:
        if fl.name in seen:
            raise PrototxtError(name, fl.line, fl.col, f"two layers are named {fl.name!r} (lines {seen[fl.name]} "
                                                       f"and {fl.line}); Caffe needs unique layer names")
        seen[fl.name] = fl.line
    return FileNet(name, _one(top, "name"), layers, dict(zip(names, shapes, strict=True)), _line(top, "input", 0))

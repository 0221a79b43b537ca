"""One forward pass of the inference path (``forward``): windowed trunk layers on c + Y, ordinary layers as nets.net
runs them (channels_last, ReLU in place, fc6/fc7/scores as matrix products and the wide 3x3 convolutions as
Winograd F(2x2, 3x3) on a CPU, the final upsampling only where the crop keeps it), the far-field constants and
the edge responses."""

from __future__ import annotations

import functools
import time
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .. import layers as L
from ..precision import Precision
from ..spec import Layer
from .cache import _CACHE_SIZE, _plan, _state, _version, _weight, _weights_key
from .options import DEFAULT, Options
from .plan import Chain, rectified_convs
from .span import _WINDOWED, Span, needed


class _Run:
    """One forward pass: ordinary blobs, windowed blobs (Y and c), and the policy's dtypes."""

    def __init__(self, net, inputs: tuple[torch.Tensor, ...], precision: Precision, options: Options):
        self.net = net
        self.precision = precision
        self.options = options
        x = inputs[0]
        self.device = x.device
        self.exact_dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
        self.low = precision.autocast_dtype or self.exact_dtype
        self.cl = precision.channels_last
        self.plan = _plan(net, {n: tuple(t.shape[2:]) for n, t in zip(net.inputs, inputs, strict=True)}, options)
        self.dense: dict[str, torch.Tensor] = {}
        self.win: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # blob -> (Y, c as float (C,))
        self.rectified = rectified_convs(net)
        self.weights_key = _weights_key(net)
        self.consts = _constants(self)
        self.finite: list[tuple[str, str, torch.Tensor]] = []  # float16 blobs to check, in one sync at the end
        for name, t in zip(net.inputs, inputs, strict=True):
            self.dense[name] = self._layout(t)

    def _conv(self, layer: Layer, x: torch.Tensor, dt: torch.dtype, bias: torch.Tensor | None,
              pad: int | tuple[int, int]) -> torch.Tensor:
        """One convolution in dtype ``dt``: as Winograd F(2x2, 3x3) where it pays (a CPU, no autocast), else
        oneDNN's or cuDNN's own."""
        net = self.net
        x = x.to(dt)
        if (self.precision.autocast_dtype is None and _as_winograd(layer, getattr(net, layer.name).weight, x)
                and winograd_on(self.options)):
            pad = pad if isinstance(pad, tuple) else (pad, pad)
            return winograd_conv(x, _winograd_weight(net, layer.name, dt), bias, pad)
        return F.conv2d(x, _weight(net, layer.name, dt, self.cl), bias, layer.stride, pad, 1, layer.group)

    def _layout(self, t: torch.Tensor) -> torch.Tensor:
        return t.contiguous(memory_format=torch.channels_last) if self.cl and t.dim() == 4 else t

    def dtype_of(self, layer: Layer, i: int) -> torch.dtype:
        rectified = i in self.rectified or layer.type != "Convolution"
        return self.exact_dtype if self.precision.keeps_float32(layer.type, rectified) else self.low

    def get(self, blob: str, dtype: torch.dtype | None = None, where: str = "") -> torch.Tensor:
        """An ordinary tensor of ``blob`` (made from its window and the edge response if need be)."""
        if blob not in self.dense:
            raise KeyError(f"inference path: blob {blob!r} is not an ordinary tensor here (plan error)")
        t = self.dense[blob]
        if dtype is not None and t.dtype != dtype:
            if t.dtype == torch.float16 and self.precision.check_finite:
                self.finite.append((blob, where, torch.isfinite(t).all()))  # no sync here
            t = t.to(dtype)
        return t

    def _check_finite(self) -> None:
        if self.finite and not bool(torch.stack([f for _, _, f in self.finite]).all()):
            blob, where = next((b, w) for b, w, f in self.finite if not bool(f))
            raise FloatingPointError(
                f"{self.net.name}: blob {blob!r} overflowed in {self.precision.name} before {where!r} "
                f"(float16's largest value is 65504); run this input in precision 'bf16' or 'exact'")

    def run(self) -> tuple[torch.Tensor, ...]:
        net, plan = self.net, self.plan
        last_use = net._last_use
        skip: set[int] = set()
        for i, layer in enumerate(net.layers):
            if i not in skip:
                if plan.spans[i] is not None:
                    self._windowed(i, layer)
                    if i in plan.fuse_relu:
                        skip.add(i + 1)
                else:
                    for b in set(layer.bottom):
                        if b in self.win:
                            self._materialise(b)
                    self._ordinary(i, layer, skip)
            for b in set(layer.bottom) - set(layer.top):  # free blobs after their last reader, as nets.net does
                if last_use.get(b) == i and b not in net.outputs:
                    self.dense.pop(b, None)
                    self.win.pop(b, None)
        for o in net.outputs:
            if o in self.win:
                self._materialise(o)
        self._check_finite()
        return tuple(self.dense[o].contiguous() for o in net.outputs)

    # -- windowed layers --

    def _windowed(self, i: int, layer: Layer) -> None:
        """One trunk layer on c + Y. ``self.win[blob]`` is (Y, c, held): Y covers the positions ``held`` (a span
        pair at least as large as the plan's window; the extra positions hold Y's exact zeros)."""
        net, plan = self.net, self.plan
        sh, sw = plan.spans[i]
        t = layer.type
        k = self.consts
        if t == "Convolution":
            dt = self.dtype_of(layer, i)
            if layer.bottom[0] in self.win:
                y_in, _, held = self.win[layer.bottom[0]]
            else:  # the root: an ordinary tensor whose zero padding is real (its "c" is 0)
                y_in = self.get(layer.bottom[0], dt, layer.name)
                nh, nw = y_in.shape[2:]
                held = (Span(nh, 0, nh - 1), Span(nw, 0, nw - 1))
            x, pad = _extend(y_in, held, needed(layer, sh), needed(layer, sw), as_padding=True)
            held = (sh, sw)
            if i in plan.fuse_relu:  # ReLU(c + Y) - ReLU(c) = max(Y + min(c, 0), -max(c, 0))
                y = self._conv(layer, x, dt, k.negative_part(i, dt), pad)
                pool = plan.pool_pads.get(i)
                if pool is None:
                    y.clamp_min_(k.floor(i, dt))
                else:  # the next pooling needs Y's zeros around it: clamp straight into a zero-bordered buffer
                    y, held = _clamp_into_padded(y, k.floor(i, dt), held, pool)
                c = k.after(i + 1)
            else:
                y = self._conv(layer, x, dt, None, pad)
                c = k.after(i)
            self.win[layer.top[0]] = (y, c, held)
            return
        y, _, held = self.win[layer.bottom[0]]
        c = k.after(i)
        if t == "ReLU":
            y.add_(k.negative_part(k.source(i), y.dtype).view(1, -1, 1, 1)).clamp_min_(k.floor(k.source(i), y.dtype))
        elif t == "Pooling":  # max(c + Y) = c + max(Y) per channel; Y's zeros are written out for the kernel
            x, _ = _extend(y, held, needed(layer, sh), needed(layer, sw), as_padding=False)
            y = F.max_pool2d(x, layer.kernel_size, layer.stride)
            held = (sh, sw)
        elif t == "LRN":  # not additive: back to c + Y, normalise, subtract the constant's own response
            dt = self.dtype_of(layer, i)
            y = L.caffe_lrn(y.to(dt) + k.view(k.source(i), dt), layer.local_size, layer.alpha, layer.beta, layer.k)
            y.sub_(k.view(i, dt))
        elif t == "Scale":
            y = y * getattr(net, layer.name).weight.detach().to(y.dtype).view(1, -1, 1, 1)
        # Dropout (eval mode): the identity
        self.win[layer.top[0]] = (y, c, held)

    # -- ordinary layers --

    def _ordinary(self, i: int, layer: Layer, skip: set[int]) -> None:
        net = self.net
        t = layer.type
        dt = self.dtype_of(layer, i)
        top = layer.top[0]
        if t == "Convolution":
            x = self.get(layer.bottom[0], dt, layer.name)
            module = getattr(net, layer.name)
            bias = module.bias.to(dt) if module.bias is not None else None
            if self.options.gemm and x.device.type == "cpu" and _as_gemm(layer, module.weight, x):
                y = _conv_gemm(x, _weight(net, layer.name, dt, False), bias, layer)
            else:
                y = self._conv(layer, x, dt, bias, layer.pad)
            if i in self.plan.fuse_relu:
                y.relu_()
                skip.add(i + 1)
        elif t == "Deconvolution":
            x = self.get(layer.bottom[0], dt, layer.name)
            crop = self.plan.crop_fused.get(i)
            if crop is not None:
                like = self._shape_of(net.layers[crop].bottom[1])
                y = _deconv_cropped(getattr(net, layer.name), x, net.layers[crop].offset, like)
                self.dense[net.layers[crop].top[0]] = y
                skip.add(crop)
                return
            y = getattr(net, layer.name)(x)
        elif t == "ReLU":
            y = self.get(layer.bottom[0])
            y = torch.relu(y) if layer.bottom[0] in net.inputs else y.relu_()
        elif t == "Pooling":
            if layer.pool != "MAX":
                raise NotImplementedError(f"layer {layer.name!r}: {layer.pool} pooling is not implemented "
                                          "(the FCNs pool with MAX only)")
            y = L.caffe_max_pool(self.get(layer.bottom[0]), layer.kernel_size, layer.stride, layer.pad)
        elif t == "Dropout":
            y = self.get(layer.bottom[0])
        elif t == "Crop":
            y = L.caffe_crop(self.get(layer.bottom[0]), self.get(layer.bottom[1]), layer.offset)
        elif t == "Eltwise":
            y = L.caffe_eltwise_sum([self.get(b, dt, layer.name) for b in layer.bottom], layer.coeff)
        elif t == "Concat":
            y = torch.cat([self.get(b) for b in layer.bottom], dim=layer.concat_axis)
        elif t == "LRN":
            y = L.caffe_lrn(self.get(layer.bottom[0], dt), layer.local_size, layer.alpha, layer.beta, layer.k)
        elif t == "Scale":
            y = getattr(net, layer.name)(self.get(layer.bottom[0], dt, layer.name))
        else:
            raise NotImplementedError(f"layer {layer.name!r}: Caffe type {t!r} is not implemented")
        self.dense[top] = y

    def _shape_of(self, blob: str) -> tuple[int, int]:
        if blob in self.dense:
            return tuple(self.dense[blob].shape[2:])
        for j in range(len(self.net.layers) - 1, -1, -1):
            if blob in self.net.layers[j].top and self.plan.spans[j] is not None:
                sh, sw = self.plan.spans[j]
                return sh.n, sw.n
        raise KeyError(blob)

    # -- windowed blob to ordinary tensor --

    def _materialise(self, blob: str) -> None:
        y, c, (hh, hw) = self.win.pop(blob)
        j = max(k for k, layer in enumerate(self.net.layers) if blob in layer.top and self.plan.spans[k] is not None)
        chain = self.plan.chains[self.plan.chain_of[j]]
        edge = _edge_response(self, chain)[blob]
        ch, cw = chain.compression
        full = edge.index_select(2, ch.index(blob, self.device)).index_select(3, cw.index(blob, self.device))
        n = y.shape[0]
        dense = torch.empty((n, *full.shape[1:]), dtype=y.dtype, device=self.device,
                            memory_format=torch.channels_last if self.cl else torch.contiguous_format)
        dense.copy_(full.expand(n, -1, -1, -1))
        window = dense[:, :, hh.lo:hh.hi + 1, hw.lo:hw.hi + 1]
        if window.shape != y.shape:
            raise RuntimeError(f"inference path: blob {blob!r} holds a {tuple(y.shape)} window where its plan says "
                               f"{tuple(window.shape)} (a bug in nets.inference)")
        torch.add(y, c.to(y.dtype).view(1, -1, 1, 1), out=window)
        self.dense[blob] = dense


def _clamp_into_padded(y: torch.Tensor, floor: torch.Tensor, held: tuple[Span, Span],
                       pads: tuple[int, int, int, int]) -> tuple[torch.Tensor, tuple[Span, Span]]:
    """max(y, floor) written into the middle of a buffer bordered by ``pads`` (top, bottom, left, right) zeros:
    the clamp pass the ReLU needs anyway also lays out the zeros the next pooling reads, so no copy is made."""
    top, bottom, left, right = pads
    n, c, h, w = y.shape
    fmt = torch.channels_last if y.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    buf = torch.empty((n, c, h + top + bottom, w + left + right), dtype=y.dtype, device=y.device,
                      memory_format=fmt)
    for border in (buf[:, :, :top], buf[:, :, h + top:], buf[:, :, :, :left], buf[:, :, :, w + left:]):
        border.zero_()
    torch.clamp_min(y, floor, out=buf[:, :, top:top + h, left:left + w])
    sh, sw = held
    return buf, (Span(sh.n, sh.lo - top, sh.hi + bottom), Span(sw.n, sw.lo - left, sw.hi + right))


class _Constants:
    """The per-channel constant c of every windowed trunk blob (the value far from the image) and the tensors
    derived from it, computed once per weight set, dtype and device (they do not depend on the input size)."""

    def __init__(self, net, dtype: torch.dtype, device: torch.device):
        self.net, self.dtype, self.device = net, dtype, device
        self._after: dict[int, torch.Tensor] = {}
        self._derived: dict[tuple, torch.Tensor] = {}
        self._producer = _producers(net)

    def source(self, i: int) -> int | None:
        """The layer that wrote layer i's bottom (None: a net input)."""
        return self._producer[i]

    def after(self, i: int) -> torch.Tensor:
        """c of layer i's top after layer i (float, (C,))."""
        if i in self._after:
            return self._after[i]
        layer = self.net.layers[i]
        j = self._producer[i]
        if layer.type == "Convolution":
            m = getattr(self.net, layer.name)
            if j is None or self.net.layers[j].type not in _WINDOWED:  # a root: its far field is the bias
                c = m.bias.detach().to(self.dtype) if m.bias is not None else \
                    torch.zeros(layer.num_output, dtype=self.dtype, device=self.device)
            else:
                c = _const_conv(self.after(j), m.weight, m.bias, layer)
        elif layer.type == "ReLU":
            c = torch.relu(self.after(j))
        elif layer.type == "LRN":
            c = L.caffe_lrn(self.after(j).view(1, -1, 1, 1), layer.local_size, layer.alpha, layer.beta,
                            layer.k).view(-1)
        elif layer.type == "Scale":
            c = self.after(j) * getattr(self.net, layer.name).weight.detach().to(self.dtype)
        else:  # Pooling, Dropout: a constant stays itself
            c = self.after(j)
        self._after[i] = c
        return c

    def _memo(self, key: tuple, make) -> torch.Tensor:
        if key not in self._derived:
            self._derived[key] = make()
        return self._derived[key]

    def negative_part(self, i: int, dtype: torch.dtype) -> torch.Tensor:
        """min(c, 0) of layer i's top, (C,), in ``dtype``: the bias of a convolution with its ReLU folded in."""
        return self._memo((i, "neg", dtype), lambda: torch.clamp(self.after(i), max=0).to(dtype))

    def floor(self, i: int, dtype: torch.dtype) -> torch.Tensor:
        """-max(c, 0) of layer i's top as 1 x C x 1 x 1: the clamp a folded ReLU applies to Y."""
        return self._memo((i, "floor", dtype), lambda: (-torch.relu(self.after(i))).to(dtype).view(1, -1, 1, 1))

    def view(self, i: int, dtype: torch.dtype) -> torch.Tensor:
        """c of layer i's top as 1 x C x 1 x 1 in ``dtype``."""
        return self._memo((i, "view", dtype), lambda: self.after(i).to(dtype).view(1, -1, 1, 1))


def _producers(net) -> list[int | None]:
    """For each layer, the index of the last earlier layer that wrote its first bottom (None: a net input)."""
    last: dict[str, int] = {}
    out: list[int | None] = []
    for i, layer in enumerate(net.layers):
        out.append(last.get(layer.bottom[0]))
        for t in layer.top:
            last[t] = i
    return out


def _constants(run) -> _Constants:
    st = _state(run.net)
    key = (run.exact_dtype, run.device, run.weights_key)
    hit = st.consts.get(key)
    if hit is None:
        hit = st.consts[key] = _Constants(run.net, run.exact_dtype, run.device)
        if len(st.consts) > 4:
            st.consts.popitem(last=False)
    return hit


def _extend(y: torch.Tensor, src: tuple[Span, Span], need_h: tuple[int, int], need_w: tuple[int, int],
            as_padding: bool) -> tuple[torch.Tensor, tuple[int, int]]:
    """Y held on src's window, extended by its zeros (or cut) to the positions need_h x need_w. With
    ``as_padding`` an even extension is returned as a convolution's own padding (no copy): (y, (pad_h, pad_w))."""
    lo_h, hi_h = src[0].lo - need_h[0], need_h[1] - src[0].hi
    lo_w, hi_w = src[1].lo - need_w[0], need_w[1] - src[1].hi
    if as_padding and lo_h == hi_h >= 0 and lo_w == hi_w >= 0:
        return y, (lo_h, lo_w)
    if lo_h or hi_h or lo_w or hi_w:
        y = F.pad(y, (lo_w, hi_w, lo_h, hi_h))  # negative amounts cut
    return y, (0, 0)


def _const_conv(c: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, layer: Layer) -> torch.Tensor:
    """The value a convolution gives where its whole kernel reads the constant c: b + sum(W) c, per group."""
    g = layer.group
    w = weight.detach().to(c.dtype).sum((2, 3))  # (out, in / group)
    out = torch.bmm(w.view(g, w.shape[0] // g, w.shape[1]), c.view(g, -1, 1)).view(-1)
    return out if bias is None else out + bias.detach().to(c.dtype)


# Winograd can pay only where the 16 products are wide enough to hide its transforms (measured with
# ``.venv/bin/python -m benchmarks.inference --steps``): VGG16's conv4 and conv5 (256 or 512 in, 512 out); below,
# oneDNN's direct convolution is faster on a CPU. Whether it pays there is measured per machine (winograd_choice).
WINOGRAD_MIN_WORK = 256 * 512  # input channels x output channels


def winograd_layer(layer: Layer, c_in: int) -> bool:
    """Whether a convolution is one Winograd takes (on a CPU, without autocast): 3x3, stride 1, ungrouped, wide."""
    return (layer.type == "Convolution" and layer.kernel_size == 3 and layer.stride == 1 and layer.group == 1
            and c_in * layer.num_output >= WINOGRAD_MIN_WORK)


class WinogradChoice(NamedTuple):
    """What this machine measured: a conv5-sized layer's best time directly and as Winograd, and the choice."""

    direct_ms: float
    winograd_ms: float
    pays: bool


# Winograd is taken when it is at least this much faster (10%), so that timing noise cannot flip the choice.
WINOGRAD_MARGIN = 1.10


@functools.cache
def _measure_winograd(threads: int) -> WinogradChoice:
    # Whether Winograd pays depends on the machine: its 16 products go to the BLAS, the direct convolution to
    # oneDNN. On a 2-core AVX2 EPYC the step bought 1.17x overall; on a 2-core AVX-512 EPYC, whose BLAS
    # products ran well below oneDNN's convolutions, it cost 0.89x (benchmarks/records/bench-steps-cpu.json).
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 512, 40, 40, generator=gen).contiguous(memory_format=torch.channels_last)
    w = torch.randn(512, 512, 3, 3, generator=gen) * 0.01
    wc, u = w.contiguous(memory_format=torch.channels_last), winograd_weight(w)
    times = {"direct": [], "winograd": []}
    with torch.inference_mode():
        for i in range(4):  # the first of each is a warm-up; the two take turns, so load slows both alike
            for name, run in (("direct", lambda: F.conv2d(x, wc, None, 1, 1)),
                              ("winograd", lambda: winograd_conv(x, u, None, (1, 1)))):
                start = time.perf_counter()
                run()
                if i:
                    times[name].append((time.perf_counter() - start) * 1000)
    direct, wino = min(times["direct"]), min(times["winograd"])
    return WinogradChoice(direct, wino, wino * WINOGRAD_MARGIN <= direct)


def winograd_choice() -> WinogradChoice:
    """Measured once per process and thread count, at the first forward that could use Winograd."""
    return _measure_winograd(torch.get_num_threads())


def winograd_on(options: Options) -> bool:
    """Whether the wide 3x3 convolutions run as Winograd under ``options`` (True, False or "auto")."""
    if options.winograd == "auto":
        return winograd_choice().pays
    if not isinstance(options.winograd, bool):
        raise ValueError(f"Options.winograd: expected True, False or 'auto', found {options.winograd!r}")
    return options.winograd


def _as_winograd(layer: Layer, weight: torch.Tensor, x: torch.Tensor) -> bool:
    return (x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and winograd_layer(layer, weight.shape[1]))


# F(2x2, 3x3) (Lavin and Gray 2016): a 4x4 input tile d gives a 2x2 output tile A^T [(G g G^T) * (B^T d B)] A.
# B^T and A^T hold only 0 and +-1 and G only 0, +-1/2 and 1, so the transforms add and halve exactly; what
# rounding there is comes from the products, as in the direct convolution (float32 agreement ~2e-6 of the largest
# output, float64 ~1e-14, tests/test_inference.py).
_WINO_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))


def winograd_weight(weight: torch.Tensor) -> torch.Tensor:
    """The kernels' transform G g G^T, as the 16 matrices of the products: (16, in, out)."""
    g = torch.tensor(_WINO_G, dtype=torch.float64, device=weight.device)
    u = torch.einsum("ij,ocjk,lk->ilco", g, weight.detach().double(), g)
    return u.reshape(16, weight.shape[1], weight.shape[0]).to(weight.dtype).contiguous()


def _winograd_weight(net, name: str, dtype: torch.dtype) -> torch.Tensor:
    """A layer's Winograd kernels in the compute dtype, transformed once per weight version."""
    w = getattr(net, name).weight
    st = _state(net)
    key = (name, dtype, "winograd")
    hit = st.weights.get(key)
    if hit is not None and hit[0] == _version(w):
        return hit[1]
    out = winograd_weight(w.detach().to(dtype))
    st.weights[key] = (_version(w), out)
    return out


def winograd_conv(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None,
                  pad: tuple[int, int]) -> torch.Tensor:
    """A 3x3, stride-1 convolution with zero padding ``pad`` as Winograd F(2x2, 3x3): 2.25x fewer products than
    the direct convolution, computed as 16 matrix products (tiles x in) @ (in x out) per image. Works on the
    channels-last view; returns a channels_last tensor."""
    n, c, h, w = x.shape
    ph, pw = pad
    ho, wo = h + 2 * ph - 2, w + 2 * pw - 2
    th, tw = (ho + 1) // 2, (wo + 1) // 2
    cout = u.shape[2]
    xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, pw, 2 * tw + 2 - w - pw, ph, 2 * th + 2 - h - ph))  # N H W C
    out = torch.empty(n, 2 * th, 2 * tw, cout, dtype=x.dtype, device=x.device)
    v = torch.empty(16, th, tw, c, dtype=x.dtype, device=x.device)
    m = torch.empty(16, th * tw, cout, dtype=x.dtype, device=x.device)
    for b in range(n):
        rows = [xp[b, r:r + 2 * th:2] for r in range(4)]  # B^T d: rows of every tile at once
        for i, d in enumerate((rows[0] - rows[2], rows[1] + rows[2], rows[2] - rows[1], rows[1] - rows[3])):
            cols = [d[:, s:s + 2 * tw:2] for s in range(4)]  # (B^T d) B: their columns
            torch.sub(cols[0], cols[2], out=v[4 * i])
            torch.add(cols[1], cols[2], out=v[4 * i + 1])
            torch.sub(cols[2], cols[1], out=v[4 * i + 2])
            torch.sub(cols[1], cols[3], out=v[4 * i + 3])
        vv = v.view(16, th * tw, c)
        for k in range(16):  # one product per tile position; a batched product is slower on a CPU
            torch.mm(vv[k], u[k], out=m[k])
        mm = m.view(4, 4, th, tw, cout)
        o = out[b]
        for r, p in ((0, mm[0] + mm[1] + mm[2]), (1, mm[1] - mm[2] - mm[3])):  # A^T M, then (A^T M) A
            torch.add(p[0], p[1], out=o[r::2, 0::2]).add_(p[2])
            torch.sub(p[1], p[2], out=o[r::2, 1::2]).sub_(p[3])
    if bias is not None:
        out.add_(bias.to(out.dtype))
    out = out.permute(0, 3, 1, 2)
    if (ho, wo) != (2 * th, 2 * tw):
        out = out[:, :, :ho, :wo].contiguous(memory_format=torch.channels_last)
    return out


def _as_gemm(layer: Layer, weight: torch.Tensor, x: torch.Tensor) -> bool:
    """Whether a convolution runs as one matrix product: ungrouped, unpadded, stride 1, with more weights than
    outputs (fc6: 103M weights for 1M outputs at 500x500). There oneDNN's per-call reordering of the weight into
    its blocked layout costs as much as the arithmetic; a BLAS product reads the weight as it is."""
    if layer.group != 1 or layer.pad or layer.stride != 1:
        return False
    oh, ow = x.shape[2] - layer.kernel_size + 1, x.shape[3] - layer.kernel_size + 1
    return weight.numel() > x.shape[0] * weight.shape[0] * oh * ow


def _conv_gemm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, layer: Layer) -> torch.Tensor:
    """The convolution as (Cout x Cin k k) @ im2col(x) (Cin k k x positions) per image: Caffe's own formulation,
    with the weight matrix read in place (Caffe's layout is already Cout x Cin k k)."""
    n, k = x.shape[0], layer.kernel_size
    oh, ow = x.shape[2] - k + 1, x.shape[3] - k + 1
    w2 = weight.reshape(weight.shape[0], -1)
    cols = F.unfold(x.contiguous(), k) if k > 1 else x.contiguous().reshape(n, x.shape[1], -1)
    outs = []
    for b in range(n):
        y = w2 @ cols[b] if bias is None else torch.addmm(bias.view(-1, 1), w2, cols[b])
        outs.append(y.view(1, -1, oh, ow))
    return outs[0] if n == 1 else torch.cat(outs)


def _deconv_cropped(module: L.Deconvolution, x: torch.Tensor, offset: int, like: tuple[int, int]) -> torch.Tensor:
    """Deconvolution followed by Caffe's Crop(offset, like): only the kept outputs are computed (the transposed
    convolution's padding drops outputs at both ends; the rest is sliced off)."""
    h, w = like
    k, s, p = module.weight.shape[2], module.stride, module.pad
    full_h, full_w = s * (x.shape[2] - 1) + k - 2 * p, s * (x.shape[3] - 1) + k - 2 * p
    if full_h < offset + h or full_w < offset + w:
        raise ValueError(f"crop: bottom of size {(full_h, full_w)} is too small for offset {offset} and "
                         f"reference size {like}")
    cut_h = min(offset, full_h - offset - h)
    cut_w = min(offset, full_w - offset - w)
    diag = module._diagonal()
    weight = module.weight.to(x.dtype) if diag is None else diag.to(x.dtype)
    groups = module.group if diag is None else weight.shape[0]
    y = F.conv_transpose2d(x, weight, stride=s, padding=(p + cut_h, p + cut_w), groups=groups)
    return y[:, :, offset - cut_h:offset - cut_h + h, offset - cut_w:offset - cut_w + w]


def _edge_response(run: _Run, chain: Chain) -> dict[str, torch.Tensor]:
    """The zero-image response of the chain's blobs that become ordinary tensors, on the compressed grid, in
    the exact dtype; cached per weight set and grid."""
    net = run.net
    ch, cw = chain.compression
    layers = net.layers
    root = layers[chain.root]
    key = (chain.root, tuple(sorted(ch.nc.items())), tuple(sorted(cw.nc.items())), run.exact_dtype, run.device,
           run.weights_key)
    st = _state(net)
    hit = st.edges.get(key)
    if hit is not None:
        st.edges.move_to_end(key)
        return hit
    top = root.top[0]
    module = getattr(net, root.name)
    bias = module.bias.detach() if module.bias is not None else torch.zeros(root.num_output, device=run.device)
    z = bias.to(run.exact_dtype).view(1, -1, 1, 1).expand(1, -1, ch.nc[top], cw.nc[top]).contiguous()
    out = {b: z for b in chain.outputs if b == top}
    blobs = {top: z}
    with torch.autocast(run.device.type, enabled=False):
        for i in chain.layers:
            layer = layers[i]
            z = blobs[layer.bottom[0]]
            if layer.type == "Convolution":
                m = getattr(net, layer.name)
                bias = None if m.bias is None else m.bias.detach().to(z.dtype)
                z = F.conv2d(z, m.weight.detach().to(z.dtype), bias, layer.stride, layer.pad, 1, layer.group)
            elif layer.type == "ReLU":
                z = torch.relu(z)
            elif layer.type == "Pooling":
                z = L.caffe_max_pool(z, layer.kernel_size, layer.stride, layer.pad)
            elif layer.type == "LRN":
                z = L.caffe_lrn(z, layer.local_size, layer.alpha, layer.beta, layer.k)
            elif layer.type == "Scale":
                z = getattr(net, layer.name)(z)
            blobs[layer.top[0]] = z
            if layer.top[0] in chain.outputs:
                out[layer.top[0]] = z
    st.edges[key] = out
    if len(st.edges) > _CACHE_SIZE:
        st.edges.popitem(last=False)
    return out


def forward(net, inputs: tuple[torch.Tensor, ...], precision: Precision,
            options: Options = DEFAULT) -> tuple[torch.Tensor, ...]:
    """The net's output blobs for ``inputs`` (inference only: see ``applies``)."""
    with torch.autocast(inputs[0].device.type, enabled=False):  # dtypes are chosen per layer here
        return _Run(net, inputs, precision, options).run()

"""The plan: which layers run windowed for one input size, the chains of windowed layers that grow from one root
convolution, and the compressed grid of each chain's edge response."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..spec import Layer
from .options import DEFAULT, Options
from .span import _WINDOWED, Span, _geometry, _out_size, _rims, needed, next_span, root_span


@dataclass
class Chain:
    """The windowed layers that grow from one root convolution, and what the edge response needs."""

    root: int  # layer index of the root convolution
    layers: list[int]  # indices of the windowed layers after the root, in order
    stride: int  # product of their strides: the compressed grid keeps the blob sizes' residues modulo this
    outputs: set[str]  # windowed blobs that become ordinary tensors (read by an ordinary layer, or net outputs)
    compression: tuple[Compression, Compression] | None = None


@dataclass(frozen=True)
class Compression:
    """One axis of the compressed grid of an edge response: blob sizes nc (compressed) and n (real) per windowed
    blob; the real positions [0, split] and [split + 1 + n - nc, n) are the compressed [0, split] and
    [split + 1, nc), the ones between all equal the constant at split."""

    nc: dict[str, int]
    n: dict[str, int]
    split: dict[str, int]

    def index(self, blob: str, device: torch.device) -> torch.Tensor:
        """For each real position of ``blob``, its compressed position (made once per device)."""
        key = (blob, device)
        cache = self.__dict__.setdefault("_index", {})
        if key not in cache:
            n, nc, t = self.n[blob], self.nc[blob], self.split[blob]
            i = torch.arange(n)
            delta = n - nc
            cache[key] = torch.where(i <= t, i, torch.where(i >= t + 1 + delta, i - delta,
                                                            torch.full_like(i, t))).to(device)
        return cache[key]


@dataclass
class Plan:
    """For one input size: the span pair (h, w) of every windowed blob after each layer (None where the layer
    runs on ordinary tensors), the chains, and which layers' bottoms must become ordinary tensors first."""

    spans: list[tuple[Span, Span] | None]
    chains: list[Chain]
    chain_of: dict[int, int]  # windowed layer index -> chain index
    fuse_relu: set[int]  # convolution indices whose in-place ReLU (the next layer) is folded into them
    crop_fused: dict[int, int]  # deconvolution index -> the index of the Crop that alone reads it
    pool_pads: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)  # conv -> zeros its pool reads


def make_plan(net, size: tuple[int, int] | dict[str, tuple[int, int]], options: Options = DEFAULT) -> Plan:
    """The plan for inputs of ``size`` (one H x W for all inputs, or per input blob)."""
    layers = net.layers
    spans: list[tuple[Span, Span] | None] = [None] * len(layers)
    blob_span: dict[str, tuple[Span, Span]] = {}  # current windowed blobs
    blob_chain: dict[str, int] = {}
    chains: list[Chain] = []
    chain_of: dict[int, int] = {}
    sizes = dict(size) if isinstance(size, dict) else {name: tuple(size) for name in net.inputs}
    for i, layer in enumerate(layers):
        bottom = layer.bottom[0]
        top = layer.top[0]
        new = None
        if options.windows and layer.type in _WINDOWED and len(layer.bottom) == 1 and \
                not (layer.type == "Pooling" and (layer.pad or layer.pool != "MAX")):
            if bottom in blob_span:
                sh, sw = blob_span[bottom]
                h, w = next_span(layer, sh), next_span(layer, sw)
                if h is not None and w is not None:
                    new = (h, w)
                    chain = blob_chain[bottom]
                    chains[chain].layers.append(i)
                    chains[chain].stride *= _geometry(layer)[1]
            elif layer.type == "Convolution" and bottom in sizes:
                nh, nw = sizes[bottom]
                h, w = root_span(layer, nh), root_span(layer, nw)
                if h is not None and w is not None:
                    new = (h, w)
                    chain = len(chains)
                    chains.append(Chain(i, [], 1, set()))
        for b in set(layer.bottom):
            if b in blob_span and new is None:  # an ordinary layer reads it: it becomes an ordinary tensor
                chains[blob_chain[b]].outputs.add(b)
                sizes[b] = (blob_span[b][0].n, blob_span[b][1].n)
                del blob_span[b]
        if new is not None:
            spans[i] = new
            chain_of[i] = chain
            blob_span[top] = new
            blob_chain[top] = chain
            sizes.pop(top, None)
        else:
            for t in layer.top:
                blob_span.pop(t, None)
            sizes[top] = _dense_size(layer, sizes)
    for b in net.outputs:
        if b in blob_span:
            chains[blob_chain[b]].outputs.add(b)
    for chain in chains:
        chain.compression = (_compress(net, chain, spans, 0), _compress(net, chain, spans, 1))
    fuse = _relu_fusions(net, spans)
    return Plan(spans, chains, chain_of, fuse, _crop_fusions(net) if options.crop_deconv else {},
                _pool_pads(net, spans, fuse) if options.windows else {})


def _pool_pads(net, spans, fuse: set[int]) -> dict[int, tuple[int, int, int, int]]:
    """For a windowed conv + ReLU read next by a windowed pooling: the zeros (top, bottom, left, right) the
    pooling's kernels read beyond the conv's window."""
    out = {}
    layers = net.layers
    for i in fuse:
        j = i + 2
        if j >= len(layers) or spans[i] is None or spans[j] is None:
            continue
        pool = layers[j]
        if pool.type != "Pooling" or pool.bottom[0] != layers[i].top[0]:
            continue
        (sh, sw), (ph, pw) = spans[i], spans[j]
        (nh_lo, nh_hi), (nw_lo, nw_hi) = needed(pool, ph), needed(pool, pw)
        pads = (sh.lo - nh_lo, nh_hi - sh.hi, sw.lo - nw_lo, nw_hi - sw.hi)
        if min(pads) >= 0 and max(pads) > 0:
            out[i] = pads
    return out


def _dense_size(layer: Layer, sizes: dict[str, tuple[int, int]]) -> tuple[int, int]:
    if layer.type == "Crop":
        return sizes[layer.bottom[1]]
    h, w = sizes[layer.bottom[0]]
    if layer.type == "Deconvolution":
        k, s, p = layer.kernel_size, layer.stride, layer.pad
        return s * (h - 1) + k - 2 * p, s * (w - 1) + k - 2 * p
    return _out_size(layer, h), _out_size(layer, w)


def _compress(net, chain: Chain, spans, axis: int) -> Compression:
    """The smallest compressed grid (sizes congruent to the real ones modulo the chain's stride) in which the
    edge zones from both ends stay apart at every windowed layer, so that its zero-image response, stretched,
    is the real one."""
    root_n = spans[chain.root][axis].n
    layers = net.layers
    first = root_n % chain.stride or chain.stride
    for nc_root in range(first, root_n, chain.stride):
        ok, nc = _compressed_sizes(layers, chain, nc_root)
        if ok:
            break
    else:
        nc_root = root_n
        ok, nc = _compressed_sizes(layers, chain, root_n)
    n = {layers[chain.root].top[0]: root_n}
    for i in chain.layers:
        n[layers[i].top[0]] = spans[i][axis].n
    split = {b: r for b, (_, r) in nc.items()}
    return Compression({b: s for b, (s, _) in nc.items()}, n, split)


def _compressed_sizes(layers, chain: Chain, nc_root: int) -> tuple[bool, dict[str, tuple[int, int]]]:
    """Sizes and split points of the compressed grid from a root of size nc_root; False if the edge zones of
    the two ends would meet (or a full-size grid is needed)."""
    top = layers[chain.root].top[0]
    state = {top: (nc_root, 0, 0)}  # blob -> (compressed size, rim_lo, rim_hi)
    out = {top: (nc_root, 0)}
    for i in chain.layers:
        layer = layers[i]
        n, rim_lo, rim_hi = state[layer.bottom[0]]
        k, s, p, _ = _geometry(layer)
        n_out = _out_size(layer, n)
        lo, hi = _rims(layer, n, rim_lo, rim_hi, n_out)
        if lo + hi >= n_out:
            return False, out
        if lo and s * (lo - 1) - p + k - 1 >= n - rim_hi:
            return False, out
        if hi and s * (n_out - hi) - p < rim_lo:
            return False, out
        state[layer.top[0]] = (n_out, lo, hi)
        out[layer.top[0]] = (n_out, lo)
    return True, out


def rectified_convs(net) -> set[int]:
    """Indices of the convolutions followed directly by an in-place ReLU on their top (the trunk's)."""
    out = set()
    for i, layer in enumerate(net.layers[:-1]):
        nxt = net.layers[i + 1]
        if layer.type == "Convolution" and nxt.type == "ReLU" and nxt.bottom == nxt.top == layer.top:
            out.add(i)
    return out


def _relu_fusions(net, spans) -> set[int]:
    """Convolutions followed directly by an in-place ReLU on their top (Caffe keeps only the rectified blob)."""
    return {i for i in rectified_convs(net) if (spans[i] is None) == (spans[i + 1] is None)}


def _crop_fusions(net) -> dict[int, int]:
    """Deconvolutions whose top only a Crop reads (as its bottom to cut): only the kept part is computed."""
    readers: dict[str, list[tuple[int, int]]] = {}
    for i, layer in enumerate(net.layers):
        for j, b in enumerate(layer.bottom):
            readers.setdefault(b, []).append((i, j))
    out = {}
    for i, layer in enumerate(net.layers):
        if layer.type != "Deconvolution" or layer.top[0] in net.outputs:
            continue
        r = readers.get(layer.top[0], [])
        if len(r) == 1 and net.layers[r[0][0]].type == "Crop" and r[0][1] == 0:
            out[i] = r[0][0]
    return out

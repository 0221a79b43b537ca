"""Per-net state, kept on the net: plans per input size, and converted weights per weight set (any in-place change
of a parameter, as an optimizer step or weights.load makes, or a move to another device, gives a new set)."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import torch

from .options import Options
from .plan import Plan, make_plan

if TYPE_CHECKING:
    from .run import _Constants

_CACHE_SIZE = 64  # edge responses kept per net (one per stride-residue pair of input sizes seen; each is small)


class _State:
    def __init__(self):
        self.plans: OrderedDict[tuple, Plan] = OrderedDict()
        self.edges: OrderedDict[tuple, dict[str, torch.Tensor]] = OrderedDict()
        self.weights: dict[tuple, torch.Tensor] = {}
        self.consts: OrderedDict[tuple, _Constants] = OrderedDict()


def _weights_key(net) -> tuple:
    """Identifies the current weight set: every parameter's and buffer's storage and in-place version."""
    return tuple(_version(t) for t in (*net.parameters(), *net.buffers()))


def _state(net) -> _State:
    st = net.__dict__.get("_inference_state")
    if st is None:
        st = net.__dict__["_inference_state"] = _State()
    return st


def _plan(net, sizes: dict[str, tuple[int, int]], options: Options) -> Plan:
    st = _state(net)
    key = (tuple(sizes.items()), options)
    plan = st.plans.get(key)
    if plan is None:
        plan = st.plans[key] = make_plan(net, sizes, options)
        if len(st.plans) > 64:
            st.plans.popitem(last=False)
    st.plans.move_to_end(key)
    return plan


def _version(t: torch.Tensor) -> tuple:
    return t.data_ptr(), t._version, t.dtype, t.device


def _weight(net, name: str, dtype: torch.dtype, channels_last: bool) -> torch.Tensor:
    """A layer's weight in the compute dtype and layout, converted once per weight version."""
    w = getattr(net, name).weight
    fmt = torch.channels_last if channels_last and w.dim() == 4 else torch.contiguous_format
    if w.dtype == dtype and w.is_contiguous(memory_format=fmt):
        return w
    st = _state(net)
    key = (name, dtype, channels_last)
    hit = st.weights.get(key)
    if hit is not None and hit[0] == _version(w):
        return hit[1]
    out = w.detach().to(dtype).contiguous(memory_format=fmt)
    st.weights[key] = (_version(w), out)
    return out

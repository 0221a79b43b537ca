"""Prototxts in the reference release's layout, written from the kit's own specs (never copied from the
reference): one folder per net with its train/val (VOC, PASCAL-Context) or trainval/test (NYUD, SIFT Flow) net
files, each opening with a Python data layer whose param_str is a Python dict literal, and closing each score
with a SoftmaxWithLoss layer, as the reference's net.py files wrote them; voc-fcn8s also gets a deploy.prototxt
(Input layer, no Dropout), and every folder a solver.prototxt. The ledger's reference.prototxts describes that layout.
"""

from __future__ import annotations

from pathlib import Path

import nets
from nets.prototxt import layer_text
from nets.registry import REFERENCE_NAMES

# (python module, data layer class) per dataset and phase, and the param_str entries besides split and seed.
_DATA_LAYERS = {
    "voc": {"train": ("voc_layers", "SBDDSegDataLayer", {"sbdd_dir": "../data/sbdd/dataset"}),
            "val": ("voc_layers", "VOCSegDataLayer", {"voc_dir": "../data/pascal/VOC2011"})},
    "nyud": {"trainval": ("nyud_layers", "NYUDSegDataLayer", {"nyud_dir": "../data/nyud"}),
             "test": ("nyud_layers", "NYUDSegDataLayer", {"nyud_dir": "../data/nyud"})},
    "siftflow": {"trainval": ("siftflow_layers", "SIFTFlowSegDataLayer", {"siftflow_dir": "../data/sift-flow"}),
                 "test": ("siftflow_layers", "SIFTFlowSegDataLayer", {"siftflow_dir": "../data/sift-flow"})},
    "pascalcontext": {"train": ("pascalcontext_layers", "PASCALContextSegDataLayer",
                                {"context_dir": "../data/pascal-context", "voc_dir": "../data/pascal"}),
                      "val": ("pascalcontext_layers", "PASCALContextSegDataLayer",
                              {"context_dir": "../data/pascal-context", "voc_dir": "../data/pascal"})},
}
_SPLITS = {"train.prototxt": "train", "val.prototxt": "seg11valid", "trainval.prototxt": "trainval",
           "test.prototxt": "test"}


def quote(text: str) -> str:
    """A text-format string literal, quotes escaped as protobuf's writer escapes them."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'") + '"'


def data_layer(net: str, file: str) -> str:
    """The Python data layer: named after its first top, tops = the net's inputs then its label tops."""
    rec = nets.record(net)
    dataset = rec.test[0]
    phase = file.split(".")[0]
    module, layer, extra = _DATA_LAYERS[dataset][{"train": "train", "val": "val", "trainval": "trainval",
                                                  "test": "test"}[phase]]
    params: dict = dict(extra, seed=1337, split=_SPLITS[file] if dataset == "voc" else phase)
    if dataset == "voc":  # the reference's VOC layers take the mean as a parameter
        params["mean"] = tuple(rec.inputs[0].mean)
    spec = nets.spec(net)
    tops = [i.blob for i in rec.inputs] + [label for _, _, label in spec.losses]
    reader = [i.top for i in rec.inputs] + [label for _, _, label in spec.losses]
    if reader != tops:  # the reference's NYUD layers name the reader tops they produce
        params = {"tops": reader, **params}
    return (f'layer {{\n  name: "{tops[0]}"\n  type: "Python"\n' + "".join(f'  top: "{t}"\n' for t in tops)
            + f'  python_param {{\n    module: "{module}"\n    layer: "{layer}"\n'
            f"    param_str: {quote(repr(params))}\n  }}\n}}")


def loss_layer(name: str, score: str, label: str, normalize: bool) -> str:
    return (f'layer {{\n  name: "{name}"\n  type: "SoftmaxWithLoss"\n  bottom: "{score}"\n  bottom: "{label}"\n'
            f'  top: "{name}"\n  loss_param {{\n    ignore_label: 255\n    normalize: '
            f'{"true" if normalize else "false"}\n  }}\n}}')


def net_text(net: str, file: str) -> str:
    """A train/val/trainval/test prototxt of ``net``: data layer, the kit's layers, each loss after its score."""
    spec = nets.spec(net)
    after = {score: (name, label) for name, score, label in spec.losses}
    parts = [data_layer(net, file)]
    for layer in spec.layers:
        parts.append(layer_text(layer))
        if layer.top[0] in after:
            name, label = after[layer.top[0]]
            parts.append(loss_layer(name, layer.top[0], label, net == "voc-fcn-alexnet"))
    return "\n".join(parts) + "\n"


def deploy_text(net: str) -> str:
    """The deploy form the reference shipped for voc-fcn8s: an Input layer, no Dropout, no loss."""
    spec = nets.spec(net)
    shapes = " ".join(f"shape {{ dim: 1 dim: {c} dim: 500 dim: 500 }}" for c in spec.inputs.values())
    head = ('layer {\n  name: "input"\n  type: "Input"\n' + "".join(f'  top: "{t}"\n' for t in spec.inputs)
            + "  input_param {\n    # example dimensions; reshape the net to each input\n"
            f"    {shapes}\n  }}\n}}\n")
    return head + "\n".join(layer_text(x) for x in spec.layers if x.type != "Dropout") + "\n"


SOLVER = 'train_net: "train.prototxt"\ntest_net: "val.prototxt"\nbase_lr: 1e-10\nlr_policy: "fixed"\n'


def reference_files_of(net: str) -> tuple[str, ...]:
    """The train/val (or trainval/test) files of a net, deploy left out."""
    from reproduce.audit.prototxt import reference_files

    return tuple(f for f in reference_files(net) if f != "deploy.prototxt")


def write_reference_tree(root: Path, names: tuple[str, ...] | None = None) -> Path:
    """Write the tree under ``root`` for ``names`` (default: the fifteen nets of the release); returns ``root``."""
    from reproduce.audit.prototxt import reference_files

    for net in names or REFERENCE_NAMES:
        folder = root / net
        folder.mkdir(parents=True, exist_ok=True)
        for file in reference_files(net):
            text = deploy_text(net) if file == "deploy.prototxt" else net_text(net, file)
            (folder / file).write_text(text)
        (folder / "solver.prototxt").write_text(SOLVER)
    return root


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace the first ``count`` occurrences of ``old`` (which must be there) in a written file."""
    text = path.read_text()
    assert text.count(old) >= count, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, count))

"""Formats out (weights.convert SRC DST.pth|.caffemodel|.onnx):
torchfcn's own model classes load the torchfcn export strictly and
give the kit's outputs; kit -> torchfcn -> kit and kit -> caffemodel -> kit are bit-exact; bad requests write
nothing. ONNX is in test_weights_onnx.py, Caffe loading the caffemodel in
tests/caffe/test_export_loads_in_caffe.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_weights_formats import assert_bit_identical, net_params
from torchfcn_models import torchfcn_models

import nets
import weights
from nets.seeded import seeded_net
from parity import argmax_agreement, max_rel_error, random_inputs
from tiny_nets import narrow
from weights.convert import main
from weights.errors import WeightsMismatchError
from weights.export import TORCHFCN_CLASSES, ExportError, export, write_torchfcn


@pytest.fixture(scope="module")
def torchfcn() -> dict[str, type]:
    try:
        return torchfcn_models()
    except ImportError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(params=["narrow", pytest.param("full", marks=pytest.mark.slow)])
def width(request, monkeypatch) -> str:
    """The round trips run on narrowed nets in make test (tests/tiny_nets.narrow: nets.spec patched, so the
    exporter, the loaders and the seeded parameters all see the same layers, names and blob kinds at 1/32 of
    the width) and at full size (134M parameters, files of 500 MB) in the slow tier."""
    if request.param == "narrow":
        real = nets.spec
        monkeypatch.setattr(nets, "spec", lambda name, variant=None: narrow(real(name, variant)))
    return request.param


def test_torchfcn_classes_cover_exactly_the_nets_with_the_same_parameters(torchfcn):
    """Every kit net whose parameters (less Scale) have a torchfcn class's keys and shapes is in the table."""
    theirs = {}  # (class, n_class) -> torchfcn's state_dict shapes, built on the meta device (no memory)
    fits = {}
    for name in nets.NAMES:
        spec = nets.spec(name)
        if tuple(spec.inputs) != ("data",) or len(spec.outputs) != 1:
            continue  # torchfcn's classes take one 3-channel input and have one head
        shapes = spec.param_shapes()
        ours = {f"{layer}.{('weight', 'bias')[i]}": tuple(s) for layer, blobs in shapes.items()
                if not layer.startswith("scale_") for i, s in enumerate(blobs)}
        n_class = shapes["score_fr"][0][0]
        at_once = any(layer.type == "Scale" for layer in spec.layers)
        for cls_name, cls in torchfcn.items():
            if (cls_name, n_class) not in theirs:
                with torch.device("meta"):
                    model = cls(n_class=n_class)
                theirs[cls_name, n_class] = {k: tuple(v.shape) for k, v in model.state_dict().items()}
            if ours == theirs[cls_name, n_class] and at_once == (cls_name == "FCN8sAtOnce"):
                assert name not in fits, (name, fits.get(name), cls_name)
                fits[name] = cls_name
    assert fits == TORCHFCN_CLASSES


# The fast tier exports the two nets whose files differ most (FCN-8s: every skip; at-once: its Scale layers, which
# torchfcn's class computes in code); FCN-32s and FCN-16s, full-size too, run in the slow tier.
@pytest.mark.parametrize("name", [pytest.param("voc-fcn32s", marks=pytest.mark.slow),
                                  pytest.param("voc-fcn16s", marks=pytest.mark.slow), "voc-fcn8s", "voc-fcn8s-atonce"])
def test_torchfcn_export_loads_strictly_into_torchfcns_class_and_gives_the_kits_outputs(tmp_path, torchfcn, name):
    net = seeded_net(name, seed=1)
    dst = write_torchfcn(net, tmp_path / f"{name}.pth")  # what export writes once it has loaded the net
    model = torchfcn[TORCHFCN_CLASSES[name]](n_class=net.num_classes).eval()
    model.load_state_dict(torch.load(dst, weights_only=True), strict=True)
    x = torch.from_numpy(random_inputs(name, size=(37, 45))["data"])
    with torch.no_grad():
        # the plain path, layer for layer as torchfcn computes: the export is checked, not the inference path's
        # Winograd (~2e-6 of the largest score from the direct convolution, tests/test_inference.py)
        ours, theirs = net.forward_blobs(x)["score"].numpy(), model(x).numpy()
    assert ours.shape == theirs.shape == (1, 21, 37, 45)
    # The kit upsamples each class on its own (a grouped transposed convolution over the bilinear diagonal),
    # torchfcn with the full ConvTranspose2d: the same sums in another order (measured: ~1e-7 relative).
    error, agreement = max_rel_error(ours, theirs), argmax_agreement(ours, theirs)
    print(f"{name}: torchfcn {TORCHFCN_CLASSES[name]} vs kit: max rel error {error:.2e}, argmax agreement "
          f"{agreement:.6f}")
    assert error <= 1e-6 and agreement >= 0.9999


def test_kit_torchfcn_kit_round_trip_is_bit_identical(width, tmp_path, capsys):
    net = seeded_net("voc-fcn8s-atonce", seed=2)
    src = weights.save(net, tmp_path / "a.h5")
    dst = export("voc-fcn8s-atonce", src, tmp_path / "a.pth", "torchfcn")
    assert not any(k.startswith("scale_") for k in torch.load(dst, weights_only=True))
    again = weights.load(nets.build("voc-fcn8s-atonce"), dst)
    assert_bit_identical(net_params(again), net_params(net))
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == (f"voc-fcn8s-atonce: a.h5 -> {dst} as torchfcn "
                          "(torchfcn.models.FCN8sAtOnce(n_class=21))")
    assert "stores no Scale blobs; filled from voc-fcn8s-atonce's definition" in printed[1]


@pytest.mark.parametrize("name", ["voc-fcn8s-atonce", "voc-fcn-alexnet"])
def test_kit_caffemodel_kit_round_trip_is_bit_identical(width, tmp_path, name):
    net = seeded_net(name, seed=3)
    src = weights.save(net, tmp_path / "a.h5")
    dst = export(name, src, tmp_path / "a.caffemodel", "caffemodel", log=None)
    model = weights.read_caffemodel(dst)
    assert model.format == "layer"
    assert {layer.name: layer.type for layer in model.layers} == {
        layer.name: layer.type for layer in net.layers if layer.name in net_params(net)}
    assert_bit_identical(net_params(weights.load(nets.build(name), dst)), net_params(net))


def test_h5_export_of_a_torchfcn_at_once_file_is_complete_and_loads_strictly(width, tmp_path, capsys):
    """torchfcn's at-once file holds FCN-8s's layers (no Scale blobs): named with --net, or recognised by the name
    torchfcn publishes it under, it becomes a complete at-once .h5; an unnamed file stays what its layers say."""
    net = seeded_net("voc-fcn8s-atonce", seed=4)
    published = write_torchfcn(net, tmp_path / "fcn8s-atonce_from_caffe.pth")
    for pth, h5, argv in ((published, tmp_path / "named.h5", ["--net", "voc-fcn8s-atonce"]),
                          (published, tmp_path / "recognised.h5", [])):
        assert main([str(pth), str(h5), *argv]) == 0
        out = capsys.readouterr().out
        assert "filled from voc-fcn8s-atonce's definition: scale_pool4 (" in out
        assert ("a file published for voc-fcn8s-atonce" in out) == (argv == [])
        assert weights.read_weights(h5).blobs()["scale_pool3"][0].shape == ((256,) if width == "full" else (8,))
        assert_bit_identical(net_params(weights.load(nets.build("voc-fcn8s-atonce"), h5)), net_params(net))
        assert capsys.readouterr().out == ""  # nothing left to fill
    unnamed = published.rename(tmp_path / "mine.pth")
    assert main([str(unnamed), str(tmp_path / "mine.h5")]) == 0
    out = capsys.readouterr().out
    assert "convert with --net NET" in out and "scale_pool3" not in weights.read_weights(tmp_path / "mine.h5").blobs()


def test_export_errors_name_the_problem_and_write_nothing(tmp_path, capsys):
    src = weights.save(seeded_net("voc-fcn32s"), tmp_path / "fcn32s.h5")
    cases = [
        ([str(src), str(tmp_path / "x.onnx"), "--net", "voc-fcn99s"],
         "unknown net 'voc-fcn99s'; did you mean voc-fcn8s or voc-fcn32s or voc-fcn16s? The kit's nets are: "
         "voc-fcn32s, "),
        ([str(src), str(tmp_path / "x.pth"), "--net", "siftflow-fcn8s"],
         "torchfcn has no model class for siftflow-fcn8s"),
        ([str(src), str(tmp_path / "x.caffemodel"), "--net", "voc-fcn8s"],
         "weights fcn32s.h5 do not fit net voc-fcn8s"),
        ([str(src), str(src)], "fcn32s.h5 itself"),
        ([str(src), str(tmp_path / "x.weights")], "names no format; end it in .h5"),
        ([str(tmp_path / "none.h5"), str(tmp_path / "x.h5")], "no weights file"),
        ([str(tmp_path / "none.h5"), str(tmp_path / "x.onnx")], "no weights file"),
    ]
    for argv, message in cases:
        assert main(argv) == 1, argv
        assert message in capsys.readouterr().err, argv
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fcn32s.h5"]


def test_export_function_raises_the_loaders_error_for_a_file_of_another_net(tmp_path):
    src = weights.save(seeded_net("voc-fcn16s"), tmp_path / "fcn16s.h5")
    with pytest.raises(WeightsMismatchError, match="score_pool3"):
        export("voc-fcn8s", src, tmp_path / "x.pth", "torchfcn", log=None)
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        export("voc-fcn8s", src, tmp_path / "x.tflite", "tflite", log=None)
    assert not (tmp_path / "x.pth").exists()


def test_the_torchfcn_export_holds_exactly_the_nets_tensors(width, tmp_path):
    net = seeded_net("pascalcontext-fcn16s", seed=5)
    dst = export("pascalcontext-fcn16s", weights.save(net, tmp_path / "a.h5"), tmp_path / "a.pth", "torchfcn",
                 log=None)
    state = torch.load(dst, weights_only=True)
    assert list(state) == list(net.state_dict())
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert np.shape(state["upscore16.weight"]) == (60, 60, 32, 32)

"""Weights formats in: torch state_dicts (the kit's, torchfcn's, torchvision's VGG16), Chainer fcn .npz; told
apart by content, read into the one Caffe-named layout, each with its writer and an exact round trip; torch
files never unpickle code; bad files give one clear error and leave nothing half-written."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import torch

import nets
import weights
import weights.convert as convert_cli
from parity import load_params, random_params
from weights import transplant as surgery
from weights.caffemodel import CaffeLayer
from weights.chainer import CHAINER_NAMES, read_chainer_npz, write_chainer_npz
from weights.errors import WeightsFormatError, WeightsMismatchError
from weights.formats import WRITERS, read, sniff
from weights.h5 import read_h5
from weights.torch_state import TORCHVISION_VGG16, read_torch, write_state_dict, write_torchvision_vgg16

AT_ONCE = "voc-fcn8s-atonce"


def layers_of(blobs: dict[str, list[np.ndarray]], types: dict[str, str] | None = None) -> list[CaffeLayer]:
    return [CaffeLayer(name, (types or {}).get(name, ""), tuple(b)) for name, b in blobs.items()]


def assert_bit_identical(got: dict, want: dict, ordered: bool = True) -> None:
    """Same layers (in the same order unless ``ordered`` is false), each blob float32 with the same shape and
    bits."""
    assert list(got) == list(want) if ordered else sorted(got) == sorted(want)
    for name, blobs in want.items():
        assert len(got[name]) == len(blobs), name
        for i, (g, w) in enumerate(zip(got[name], blobs, strict=True)):
            assert g.dtype == np.float32 and g.shape == w.shape, (name, i, g.dtype, g.shape, w.shape)
            assert np.array_equal(np.asarray(g).view(np.uint32), np.asarray(w, np.float32).view(np.uint32)), (name, i)


def net_params(net: nets.CaffeNet) -> dict[str, list[np.ndarray]]:
    return {name: [t.detach().numpy().copy() for t in ts] for name, ts in weights.loader.net_blobs(net).items()}


@pytest.fixture(scope="module")
def at_once_params() -> dict[str, list[np.ndarray]]:
    return random_params(AT_ONCE, seed=3)


def without_scale(params: dict) -> dict:
    return {k: v for k, v in params.items() if not k.startswith("scale_")}


# ---- round trips, one per format ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_every_writer_round_trips_through_the_reader_bit_identically(tmp_path, fmt):
    # VGG16's layer names and types (every format can hold them, torchvision's only them), small blobs.
    rng = np.random.default_rng(len(fmt))
    layers = [CaffeLayer(name, "InnerProduct" if name.startswith("fc") else "Convolution",
                         (rng.standard_normal((3, 4) if name.startswith("fc") else (3, 2, 3, 3), dtype=np.float32),
                          rng.standard_normal(3, dtype=np.float32))) for name in TORCHVISION_VGG16.values()]
    path = WRITERS[fmt](tmp_path / "weights.bin", layers)
    model = read(path)
    assert model.format == fmt
    # HDF5 groups come back in name order, every other format in file order
    assert_bit_identical(model.blobs(), {layer.name: list(layer.blobs) for layer in layers}, ordered=fmt != "hdf5")
    if fmt in ("hdf5", "layer", "torchvision-vgg16"):  # the formats that carry Caffe's layer types
        assert {x.name: x.type for x in model.layers} == {x.name: x.type for x in layers}


def test_state_dict_round_trip_is_bit_identical_in_both_torch_save_formats(tmp_path, at_once_params):
    zipped = write_state_dict(tmp_path / "a.pth", layers_of(at_once_params))
    legacy = tmp_path / "legacy.pth"  # torch.save before torch 1.6 wrote a plain pickle, not a zip
    torch.save(torch.load(zipped, weights_only=True), legacy, _use_new_zipfile_serialization=False)
    assert zipfile.is_zipfile(zipped) and not zipfile.is_zipfile(legacy)
    for path in (zipped, legacy):
        model = read_torch(path)
        assert model.format == "state_dict"
        assert_bit_identical(model.blobs(), at_once_params)


def test_a_plain_torch_save_of_the_kits_state_dict_loads_bit_identically(tmp_path, at_once_params, capsys):
    net = load_params(nets.build(AT_ONCE), at_once_params)
    torch.save(net.state_dict(), tmp_path / "mine.pt")
    again = weights.load(nets.build(AT_ONCE), tmp_path / "mine.pt")
    assert_bit_identical(net_params(again), at_once_params)
    assert capsys.readouterr().out == ""  # the kit's own state_dict has the Scale blobs: nothing filled


def test_torchfcn_at_once_file_gets_scale_from_the_nets_definition_and_says_so_in_one_line(tmp_path, at_once_params,
                                                                                           capsys):
    # torchfcn's fcn8s-atonce_from_caffe.pth: Caffe's names, upsampling kernels stored, no Scale blobs
    path = write_state_dict(tmp_path / "fcn8s-atonce_from_caffe.pth", layers_of(without_scale(at_once_params)))
    net = nets.build(AT_ONCE)
    with torch.no_grad():
        net.scale_pool4.weight.fill_(7.0)  # filled from the definition, not kept from whatever the net held
    weights.load(net, path)
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["fcn8s-atonce_from_caffe.pth: a torch state_dict with Caffe layer names (the kit's or "
                       "torchfcn's) stores no Scale blobs; filled from voc-fcn8s-atonce's definition: scale_pool4 "
                       "(512,) = 0.01, scale_pool3 (256,) = 0.0001"]
    assert torch.equal(net.scale_pool4.weight, torch.full((512,), 0.01))
    assert torch.equal(net.scale_pool3.weight, torch.full((256,), 0.0001))
    assert_bit_identical(without_scale(net_params(net)), without_scale(at_once_params))


def test_torchvision_vgg16_layout_maps_features_and_classifier_to_caffes_vgg16_layers(tmp_path):
    rng = np.random.default_rng(5)
    blobs = {name: [rng.standard_normal((2, 3, 1, 1) if name.startswith("conv") else (2, 3), dtype=np.float32),
                    rng.standard_normal(2, dtype=np.float32)] for name in TORCHVISION_VGG16.values()}
    path = write_torchvision_vgg16(tmp_path / "vgg16_from_caffe.pth", layers_of(blobs))
    keys = list(torch.load(path, weights_only=True))
    assert keys[:2] == ["features.0.weight", "features.0.bias"]
    assert keys[-2:] == ["classifier.6.weight", "classifier.6.bias"]
    assert len(keys) == 32
    model = read_torch(path)
    assert model.format == "torchvision-vgg16"
    assert [layer.name for layer in model.layers][:3] == ["conv1_1", "conv1_2", "conv2_1"]
    assert {layer.name: layer.type for layer in model.layers}["fc6"] == "InnerProduct"
    assert_bit_identical(model.blobs(), blobs)


def test_transplant_takes_torchvision_vgg16_as_it_takes_caffes_vgg16(tmp_path, capsys):
    from test_weights_transplant import vgg16_ilsvrc

    caffe_vgg = vgg16_ilsvrc(np.random.default_rng(16))
    src = write_torchvision_vgg16(tmp_path / "vgg16_from_caffe.pth",
                                  layers_of({k: [np.ascontiguousarray(b) for b in v] for k, v in caffe_vgg.items()}))
    from_torchvision = surgery.transplant("voc-fcn32s", [src])
    printed = capsys.readouterr().out.splitlines()
    assert "coercing fc6 (4096, 25088) (4096,) -> (4096, 512, 7, 7) (4096,) from vgg16_from_caffe.pth" in printed
    assert any(line.startswith("dropping fc8 (1000, 4096) (1000,)") for line in printed)
    assert_bit_identical(from_torchvision, surgery.transplant("voc-fcn32s", [caffe_vgg], log=None))


def test_chainer_npz_round_trip_is_bit_identical(tmp_path, at_once_params):
    path = write_chainer_npz(tmp_path / "fcn8s.npz", layers_of(at_once_params))
    model = read_chainer_npz(path)
    assert model.format == "chainer-npz"
    assert_bit_identical(model.blobs(), at_once_params)


def save_npz_spelling(params: dict) -> dict[str, np.ndarray]:
    """The keys chainer.serializers.save_npz writes for a Chain of Convolution2D / Deconvolution2D links named
    after the layers: DictionarySerializer's "<link>/" + "<param>", parameters W and b (none with nobias)."""
    arrays = {}
    for name, blobs in params.items():
        arrays[f"{name}/W"] = blobs[0]
        if len(blobs) > 1:
            arrays[f"{name}/b"] = blobs[1]
    return arrays


def test_chainer_save_npz_spelling_layer_slash_W_and_b_loads_into_the_net(tmp_path, at_once_params, capsys):
    assert CHAINER_NAMES == ("W", "b")
    with (tmp_path / "fcn8s_atonce.npz").open("wb") as f:
        np.savez(f, **save_npz_spelling(without_scale(at_once_params)))
    net = weights.load(nets.build(AT_ONCE), tmp_path / "fcn8s_atonce.npz")
    assert "a Chainer fcn .npz stores no Scale blobs" in capsys.readouterr().out
    assert_bit_identical(without_scale(net_params(net)), without_scale(at_once_params))


def test_chainer_npz_compressed_as_save_npz_does_by_default_reads_the_same(tmp_path, at_once_params):
    small = {k: at_once_params[k] for k in ("score_pool3", "upscore_pool4")}
    with (tmp_path / "small.npz").open("wb") as f:
        np.savez_compressed(f, **save_npz_spelling(small))
    assert_bit_identical(read(tmp_path / "small.npz").blobs(), small)


def test_format_is_told_by_content_not_by_file_name(tmp_path, at_once_params):
    small = {k: at_once_params[k] for k in ("score_fr", "upscore2")}
    files = {
        "state_dict": write_state_dict(tmp_path / "a.npz", layers_of(small)),
        "chainer-npz": write_chainer_npz(tmp_path / "b.pth", layers_of(small)),
        "hdf5": weights.h5.write_h5(tmp_path / "c.caffemodel", layers_of(small)),
    }
    for fmt, path in files.items():
        assert read(path).format == fmt
        assert_bit_identical(read(path).blobs(), small)
    assert sniff(files["state_dict"]) == "torch" and sniff(files["chainer-npz"]) == "npz"


def test_convert_with_net_fills_torchfcns_missing_scale_blobs_so_the_h5_is_complete_and_loads_strictly(
        tmp_path, at_once_params, capsys):
    """What make weights NET=voc-fcn8s-atonce does with torchfcn's at-once file: a .h5 with every blob of the net."""
    src = write_state_dict(tmp_path / "fcn8s-atonce_from_caffe.pth", layers_of(without_scale(at_once_params)))
    h5 = convert_cli.convert(src, tmp_path / "at-once.h5", net=AT_ONCE, log=None)
    stored = read_h5(h5)
    assert_bit_identical(stored.blobs(), at_once_params, ordered=False)
    assert {x.name: x.type for x in stored.layers if x.name.startswith("scale_")} == {"scale_pool4": "Scale",
                                                                                     "scale_pool3": "Scale"}
    capsys.readouterr()
    weights.load(nets.build(AT_ONCE), h5)  # the kit's own format: strict, nothing to fill
    assert capsys.readouterr().out == ""


def test_convert_turns_a_state_dict_into_an_h5_that_loads_like_the_file(tmp_path, at_once_params, capsys):
    params = {k: at_once_params[k] for k in ("conv1_1", "score_fr", "upscore8")}
    src = write_state_dict(tmp_path / "some.pth", layers_of(params))
    assert convert_cli.main([str(src), str(tmp_path / "some.h5")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in printed[:3]] == ["conv1_1", "score_fr", "upscore8"]
    assert printed[3] == ("some.pth holds 3 parameter layers: conv1_1, score_fr, upscore8 (not checked against a "
                          "kit net)")
    assert printed[4].startswith("some.pth (torch state_dict with Caffe layer names (the kit's or torchfcn's), "
                                 "sha256 ")
    assert printed[5].startswith("note: a torch state_dict with Caffe layer names (the kit's or torchfcn's) stores "
                                 "no Scale blobs")
    assert "convert with --net NET, which fills them from the net's definition" in printed[5]
    assert_bit_identical(read_h5(tmp_path / "some.h5").blobs(), params)


# ---- torch files never run code ----------------------------------------------------------------------------


class WritesAMarker:
    """Unpickling this calls exec, which would write a file: what a malicious weights file does."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


@pytest.mark.parametrize("container", ["zip", "legacy", "bare pickle"])
def test_a_pth_whose_pickle_would_run_code_is_refused_and_never_executed(tmp_path, container):
    marker = tmp_path / "MARKER"
    payload = {"conv1_1.weight": torch.zeros(2), "conv1_1.bias": WritesAMarker(marker)}
    path = tmp_path / "evil.pth"
    if container == "bare pickle":
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=container == "zip")
    assert not marker.exists()
    with pytest.raises(WeightsFormatError) as err:
        weights.load(nets.build("voc-fcn32s"), path)
    assert not marker.exists()
    message = str(err.value)
    assert "evil.pth" in message and "not" in message
    if container != "bare pickle":
        assert "its pickle calls exec" in message and "weights_only=True" in message
    else:
        assert "not a torch.save file" in message


# ---- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("writer", [write_state_dict, write_chainer_npz])
def test_a_truncated_file_is_a_clear_error_and_convert_keeps_an_existing_h5(tmp_path, writer, at_once_params):
    full = writer(tmp_path / "full.bin", layers_of({"score_fr": at_once_params["score_fr"]}))
    cut = tmp_path / "cut.pth"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(WeightsFormatError, match="truncated"):
        read(cut)
    existing = tmp_path / "out.h5"
    existing.write_bytes(b"the user's file")
    with pytest.raises(WeightsFormatError, match="cut.pth"):
        convert_cli.convert(cut, existing, log=None, force=True)  # a failed conversion keeps it even so
    assert existing.read_bytes() == b"the user's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.pth", "full.bin", "out.h5"]  # no temporary left


@pytest.mark.parametrize("obj, found", [
    ([torch.zeros(3)], "holds a list, not a state_dict"),
    ({"model": {"conv1_1.weight": torch.zeros(3)}, "epoch": 3}, "'model': dict"),
    ({"conv1_1.weight": torch.zeros(3, dtype=torch.int64)}, "'conv1_1.weight': Tensor torch.int64"),
    ({"conv1_1.running_mean": torch.zeros(3)}, "keys conv1_1.running_mean are not <layer>.weight / <layer>.bias"),
    ({"features.0.weight": torch.zeros(3), "features.1.weight": torch.zeros(3)},
     "features.1.weight are not modules of torchvision's vgg16"),
])
def test_a_foreign_pth_names_what_was_expected_and_what_was_found(tmp_path, obj, found):
    torch.save(obj, tmp_path / "foreign.pth")
    with pytest.raises(WeightsFormatError) as err:
        read(tmp_path / "foreign.pth")
    assert found in str(err.value) and "foreign.pth" in str(err.value)


def test_a_foreign_npz_or_zip_names_what_was_expected_and_what_was_found(tmp_path):
    np.savez(tmp_path / "objects.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(WeightsFormatError, match="pickled objects"):
        read(tmp_path / "objects.npz")
    np.savez(tmp_path / "ints.npz", **{"conv1_1/W": np.zeros(3, np.int32)})
    with pytest.raises(WeightsFormatError, match="conv1_1/W are not float arrays"):
        read(tmp_path / "ints.npz")
    np.savez(tmp_path / "keys.npz", **{"conv1_1/gamma": np.zeros(3, np.float32)})
    with pytest.raises(WeightsFormatError, match="keys conv1_1/gamma are not <layer>/W / <layer>/b"):
        read(tmp_path / "keys.npz")
    with zipfile.ZipFile(tmp_path / "notes.pth", "w") as z:
        z.writestr("README.txt", "hello")
    with pytest.raises(WeightsFormatError, match="neither a torch.save pickle .* found: README.txt"):
        read(tmp_path / "notes.pth")


def test_a_file_for_another_net_prints_no_fill_line_before_the_error(tmp_path, capsys):
    src = write_state_dict(tmp_path / "fcn32s.pth", layers_of(random_params("voc-fcn32s")))
    with pytest.raises(WeightsMismatchError, match="missing from the file"):
        weights.load(nets.build(AT_ONCE), src)
    assert capsys.readouterr().out == ""


def test_a_state_dict_for_another_net_lists_every_difference_and_leaves_the_net_untouched(tmp_path):
    src = write_state_dict(tmp_path / "fcn32s.pth", layers_of(random_params("voc-fcn32s")))
    net = nets.build("voc-fcn8s")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(WeightsMismatchError) as err:
        weights.load(net, src)
    message = str(err.value)
    assert "weights fcn32s.pth do not fit net voc-fcn8s" in message
    for line in ("score_pool4 (21, 512, 1, 1) (21,)", "upscore8 (21, 21, 16, 16)", "upscore (21, 21, 64, 64)"):
        assert line in message
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())

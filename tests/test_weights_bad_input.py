"""Bad input to the weights tools: a cut caffemodel gives one clear truncation error wherever the cut falls, a
file cut at a layer boundary is refused naming the layers it lacks, and converting never writes over its
source or to a destination that is not a .h5."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import torch

import nets
import weights
from weights import convert as convert_cli
from weights.caffemodel import TruncatedError, write_caffemodel
from weights.errors import IncompleteNetError, WeightsMismatchError
from weights.loader import check_layers, kit_net_shapes

TRUNCATED = r"is truncated: .*; the file is incomplete \(an interrupted download or copy\): fetch the file again"
FIRST = [("conv1", "Convolution", [np.ones((4, 3, 2, 2), np.float32), np.ones(4, np.float32)])]
SECOND = [("fc7", "InnerProduct", [np.ones((5, 6), np.float32), np.ones(5, np.float32)])]


def two_layer_file(tmp_path):
    """A two-layer caffemodel and the byte offset where its second layer's key starts."""
    write_caffemodel(tmp_path / "one.caffemodel", FIRST)
    write_caffemodel(tmp_path / "two.caffemodel", FIRST + SECOND)
    data = (tmp_path / "two.caffemodel").read_bytes()
    start = (tmp_path / "one.caffemodel").stat().st_size
    assert data[start:start + 2] == b"\xa2\x06"  # field 100 (layer), wire type 2: a two-byte key
    assert data[start + 2] & 0x80  # the layer's length is a varint of more than one byte
    return data, start


def cut_file(tmp_path, data: bytes, cut: int):
    path = tmp_path / "cut.caffemodel"
    path.write_bytes(data[:cut])
    return path


def test_a_cut_inside_a_length_varint_is_the_truncation_error_from_convert_and_load(tmp_path):
    data, start = two_layer_file(tmp_path)
    src = cut_file(tmp_path, data, start + 3)  # key, then the first byte of the length
    with pytest.raises(TruncatedError, match=f"the length of layer 1 \\(at byte {start + 2}\\) is cut off.*"
                                             f"{TRUNCATED[len('is truncated: .*'):]}"):
        convert_cli.convert(src, tmp_path / "cut.h5", log=None)
    with pytest.raises(TruncatedError, match=TRUNCATED):
        weights.read_weights(src)  # what weights.load reads a .caffemodel with
    assert not (tmp_path / "cut.h5").exists()


def test_a_cut_right_after_a_tag_is_the_truncation_error_not_a_request_for_0_bytes(tmp_path):
    data, start = two_layer_file(tmp_path)
    src = cut_file(tmp_path, data, start + 2)
    with pytest.raises(TruncatedError, match=TRUNCATED) as err:
        convert_cli.convert(src, tmp_path / "cut.h5", log=None)
    assert "needs 0 bytes" not in str(err.value)


def test_the_command_line_prints_the_truncation_error_and_exits_1(tmp_path, capsys):
    data, start = two_layer_file(tmp_path)
    src = cut_file(tmp_path, data, start + 3)
    assert convert_cli.main([str(src), str(tmp_path / "cut.h5")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cut.caffemodel is truncated: ") and "fetch the file again" in err
    assert "Traceback" not in err


def kit_net_part(path, net: str, layers: int):
    """The first ``layers`` parameter layers of a kit net, in its shapes, as a caffemodel: what a download of
    its release cut at a layer boundary reads as."""
    shapes = kit_net_shapes(net)
    names = list(shapes)[:layers]
    write_caffemodel(path, [(n, "Convolution", [np.zeros(s, np.float32) for s in shapes[n]]) for n in names])
    return names, list(shapes)[layers:]


def test_a_kit_net_file_cut_at_a_layer_boundary_is_refused_naming_what_it_found_and_lacks(tmp_path, capsys):
    src, dst = tmp_path / "fcn-alexnet-pascal.caffemodel", tmp_path / "voc-fcn-alexnet.h5"
    found, missing = kit_net_part(src, "voc-fcn-alexnet", 3)
    assert convert_cli.main([str(src), str(dst)]) == 1
    err = capsys.readouterr().err
    assert f"holds 3 parameter layers: {', '.join(found)}" in err
    assert f"part of kit net voc-fcn-alexnet, which also has ({len(missing)}): {', '.join(missing)}" in err
    assert "fetch it again" in err and "--net none" in err
    assert not dst.exists()
    # --net checks against that net strictly: the same finding, as the net's error.
    with pytest.raises(IncompleteNetError, match=f"do not fit net voc-fcn-alexnet: they hold only 3 of its "
                                                 f"{len(found) + len(missing)} parameter layers.*missing "
                                                 f"\\({len(missing)}\\): "
                                                 f"{', '.join(missing)}.*fetch it again"):
        convert_cli.convert(src, dst, log=None, net="voc-fcn-alexnet")
    # "none" converts it as it is (a net of the user's own).
    convert_cli.convert(src, dst, log=None, net="none")
    assert set(weights.read_weights(dst).blobs()) == set(found)


def test_loading_a_file_cut_at_a_layer_boundary_says_it_is_incomplete(tmp_path):
    src = tmp_path / "cut.caffemodel"
    _, missing = kit_net_part(src, "voc-fcn-alexnet", 2)
    with pytest.raises(IncompleteNetError, match=f"missing \\({len(missing)}\\): {', '.join(missing)}. A "
                                                 "caffemodel cut at a layer boundary"):
        weights.load(nets.build("voc-fcn-alexnet"), src)


def test_convert_says_which_kit_net_the_parameter_layers_match_or_that_none_does():
    full = kit_net_shapes("voc-fcn8s")
    assert check_layers(full, "auto", "x.caffemodel").endswith("they match kit net voc-fcn8s")
    # NYUD's color and HHA nets have the same layers and shapes: both are named.
    assert check_layers(kit_net_shapes("nyud-fcn32s-hha"), "auto", "x").endswith(
        "match kit net nyud-fcn32s-color, nyud-fcn32s-hha")
    vgg16 = {**{k: v for k, v in full.items() if k.startswith("conv")}, "fc6": [(4096, 25088), (4096,)],
             "fc7": [(4096, 4096), (4096,)], "fc8": [(1000, 4096), (1000,)]}
    assert check_layers(vgg16, "auto", "x").endswith("they match no kit net's parameter layers (an ILSVRC "
                                                      "classifier or a net of your own)")
    assert check_layers(full, "voc-fcn8s", "x").endswith("exactly the parameter layers of voc-fcn8s")
    with pytest.raises(WeightsMismatchError, match="do not fit net voc-fcn32s"):
        check_layers(full, "voc-fcn32s", "x")


def test_convert_refuses_an_unknown_net_name_before_converting(tmp_path):
    src = tmp_path / "a.caffemodel"
    write_caffemodel(src, FIRST)
    with pytest.raises(ValueError, match="no kit net named 'voc-fcn9s'; the kit nets are: voc-fcn32s"):
        convert_cli.convert(src, tmp_path / "a.h5", log=None, net="voc-fcn9s")
    assert not (tmp_path / "a.h5").exists()


@pytest.mark.parametrize("how", ["same path", "hard link", "symlink"])
def test_convert_refuses_a_destination_that_is_the_source(tmp_path, how, capsys):
    # A caffemodel saved under a .h5 name, so that only the same-file rule can refuse the same path.
    src = tmp_path / ("w.h5" if how == "same path" else "w.caffemodel")
    write_caffemodel(src, FIRST)
    original = src.read_bytes()
    dst = {"same path": src, "hard link": tmp_path / "hard.h5", "symlink": tmp_path / "link.h5"}[how]
    if how == "hard link":
        os.link(src, dst)
    elif how == "symlink":
        dst.symlink_to(src)
    assert convert_cli.main([str(src), str(dst)]) == 1
    err = capsys.readouterr().err
    assert f"is the source {src} itself; converting would overwrite the source, which is kept" in err
    suggested = err.rstrip().rpartition("for example ")[2]
    assert suggested.endswith(".h5") and suggested not in (str(src), str(dst))  # X.h5 X.h5: not X.h5 again
    assert src.read_bytes() == original and (dst.is_symlink() or dst.stat().st_ino == src.stat().st_ino)


def test_convert_refuses_a_destination_not_ending_in_h5_before_writing(tmp_path, capsys):
    src = tmp_path / "w.caffemodel"
    write_caffemodel(src, FIRST)
    original = src.read_bytes()
    assert convert_cli.main([str(src), str(src)]) == 1  # the data-losing typo: X.caffemodel X.caffemodel
    err = capsys.readouterr().err
    assert "is the source" in err and "itself" in err and str(tmp_path / "w.h5") in err  # another path suggested
    assert src.read_bytes() == original
    assert convert_cli.main([str(src), str(tmp_path / "w.hdf")]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.caffemodel"]


# ---- an existing destination is kept unless --force ---------------------------------------------------------


def test_convert_onto_an_existing_file_keeps_it_unless_force(tmp_path, capsys):
    src, dst = tmp_path / "w.caffemodel", tmp_path / "mine.h5"
    write_caffemodel(src, FIRST)
    dst.write_bytes(b"the user's own weights")
    assert convert_cli.main([str(src), str(dst), "--net", "none"]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {dst} exists already and is kept: pass --force to replace it, or name another path\n"
    assert dst.read_bytes() == b"the user's own weights"
    assert convert_cli.main([str(src), str(dst), "--net", "none", "--force"]) == 0
    assert list(weights.read_weights(dst).blobs()) == ["conv1"]


def test_convert_onto_a_folder_is_refused_and_the_folder_kept(tmp_path, capsys):
    src, dst = tmp_path / "w.caffemodel", tmp_path / "out.h5"
    write_caffemodel(src, FIRST)
    dst.mkdir()
    (dst / "keep").write_text("kept")
    assert convert_cli.main([str(src), str(dst), "--force"]) == 1
    assert f"{dst} is a folder; the output is one file" in capsys.readouterr().err
    assert (dst / "keep").read_text() == "kept"


def test_export_onto_an_existing_file_keeps_it_unless_force(tmp_path, capsys, monkeypatch):
    from tiny_nets import scoring_net
    from weights import convert as convert_cli

    monkeypatch.setattr(nets, "build", lambda name: scoring_net(name))
    src = weights.save(scoring_net(), tmp_path / "tiny.h5")
    dst = tmp_path / "mine.h5"
    dst.write_bytes(b"mine")
    assert convert_cli.main([str(src), str(dst), "--net", "none"]) == 1
    assert "exists already and is kept: pass --force" in capsys.readouterr().err and dst.read_bytes() == b"mine"
    mine = tmp_path / "mine.onnx"  # a whole net's file: refused before the source is read
    mine.write_bytes(b"mine")
    assert convert_cli.main([str(src), str(mine), "--net", "voc-fcn32s"]) == 1
    assert "exists already and is kept: pass --force" in capsys.readouterr().err and mine.read_bytes() == b"mine"
    assert convert_cli.main([str(src), str(dst), "--net", "none", "--force"]) == 0
    assert list(weights.read_weights(dst).blobs()) == ["conv1", "score"]


# ---- weights that are not finite: refused when loaded, converted and exported ------------------------------


NAN_LAYERS = [("conv1", "Convolution", [np.array([[[[np.nan, 1.0], [np.inf, -np.inf]]]], np.float32),
                                        np.zeros(1, np.float32)]),
              ("fc7", "InnerProduct", [np.ones((5, 6), np.float32), np.array([np.nan] * 5, np.float32)])]
NOT_FINITE = (r"2 layer\(s\) hold values that are not finite: conv1 \(1 NaN, 2 infinite, of 5 values\); "
              r"fc7 \(5 NaN, 0 infinite, of 35 values\)\. Weights like these come from a training run that "
              r"diverged .* or from a damaged file")


def test_convert_refuses_weights_holding_nan_or_infinity_naming_layers_and_counts(tmp_path, capsys):
    src, dst = tmp_path / "diverged.caffemodel", tmp_path / "diverged.h5"
    write_caffemodel(src, NAN_LAYERS)
    with pytest.raises(weights.NonFiniteWeightsError, match=NOT_FINITE):
        convert_cli.convert(src, dst, log=None, net="none")
    assert convert_cli.main([str(src), str(dst), "--net", "none"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: diverged.caffemodel: 2 layer(s) hold values that are not finite")
    assert "Traceback" not in err and sorted(p.name for p in tmp_path.iterdir()) == ["diverged.caffemodel"]


def test_load_refuses_weights_holding_nan_and_leaves_the_net_untouched(tmp_path):
    from tiny_nets import scoring_net

    net = scoring_net()
    net.conv1.bias.data[1] = float("inf")
    bad = weights.save(net, tmp_path / "diverged.h5")  # a training snapshot is written as the run left it
    target = scoring_net()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(weights.NonFiniteWeightsError,
                       match=r"diverged.h5: 1 layer\(s\) .*: conv1 \(0 NaN, 1 infinite, of 112 values\)"):
        weights.load(target, bad)
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())
    with pytest.raises(weights.NonFiniteWeightsError, match="conv1"):  # a mapping goes through the same check
        weights.load(scoring_net(), {"conv1": [t.detach().numpy() for t in (net.conv1.weight, net.conv1.bias)],
                                     "score": [t.detach().numpy() for t in (net.score.weight, net.score.bias)]})


def test_export_refuses_weights_holding_nan_and_writes_nothing(tmp_path, capsys, monkeypatch):
    from tiny_nets import scoring_net
    from weights import convert as convert_cli

    monkeypatch.setattr(nets, "build", lambda name: scoring_net(name))
    net = scoring_net()
    net.score.weight.data[:] = float("nan")
    bad = weights.save(net, tmp_path / "diverged.h5")
    assert convert_cli.main([str(bad), str(tmp_path / "x.caffemodel"), "--net", "voc-fcn32s"]) == 1
    err = capsys.readouterr().err
    assert "score (84 NaN, 0 infinite, of 105 values)" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["diverged.h5"]


# ---- a cut .h5, and a folder where a weights file was expected ---------------------------------------------


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_a_cut_h5_is_called_cut_by_every_reader_with_what_to_do(tmp_path, keep, capsys):
    from tiny_nets import scoring_net

    whole = weights.save(scoring_net(), tmp_path / "whole.h5")
    cut = tmp_path / "cut.h5"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * keep)])
    original = cut.read_bytes()
    message = rf"{cut} is cut: the weights file holds {len(original)} of its {whole.stat().st_size} bytes " \
              r"\(an interrupted download or copy\); fetch or copy it again"
    with pytest.raises(weights.HDF5FileError, match=message):
        weights.load(scoring_net(), cut)
    with pytest.raises(weights.HDF5FileError, match=message):
        weights.read_weights(cut)
    assert convert_cli.main([str(cut), str(tmp_path / "out.h5")]) == 1
    err = capsys.readouterr().err
    assert "is cut" in err and "Unable to synchronously open" not in err and "Traceback" not in err
    with pytest.raises(weights.HDF5FileError, match=r"the solverstate holds"):
        weights.h5.open_h5(cut, "solverstate")
    assert cut.read_bytes() == original and not (tmp_path / "out.h5").exists()


def test_a_folder_given_as_weights_is_called_a_folder(tmp_path, capsys):
    from tiny_nets import scoring_net

    with pytest.raises(FileNotFoundError, match=f"{tmp_path} is a folder, not a weights file"):
        weights.load(scoring_net(), tmp_path)
    assert convert_cli.main([str(tmp_path), str(tmp_path / "x.h5")]) == 1
    assert f"{tmp_path} is a folder, not a weights file" in capsys.readouterr().err


# ---- .h5 files that read outside themselves, and blob types (issue 29) ----------------------------------------


def _tiny_h5(tmp_path):
    from tiny_nets import scoring_net

    return weights.save(scoring_net(), tmp_path / "tiny.h5")


def _replace_bias(path, make) -> None:
    """Replace /data/score/1 (the score layer's bias) by what ``make(f, name, shape)`` creates."""
    import h5py

    with h5py.File(path, "a") as f:
        shape = f["data/score/1"].shape
        del f["data/score/1"]
        make(f, "data/score/1", shape)


def _other_file(tmp_path):
    import h5py

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.full(21, 7.0, np.float32)
    return other


OUTSIDE = {
    "external storage": (lambda f, n, shape, other, secret: f.create_dataset(
        n, shape=shape, dtype="f4", external=[(str(secret), 0, 4 * int(np.prod(shape)))]),
        "a dataset stored outside the file, in '{secret}'"),
    "external link": (lambda f, n, shape, other, secret: f.__setitem__(n, __import__("h5py").ExternalLink(
        str(other), "/x")), "an external link to '/x' in the file '{other}'"),
    "soft link": (lambda f, n, shape, other, secret: f.__setitem__(n, __import__("h5py").SoftLink(
        "/data/score/0")), "a soft link to '/data/score/0'"),
    "virtual dataset": (lambda f, n, shape, other, secret: f.create_virtual_dataset(n, _layout(other, shape)),
                        "a virtual dataset mapped from '{other}'"),
    "committed datatype": (lambda f, n, shape, other, secret: f.__setitem__(n, np.dtype("f4")),
                           "a Datatype, not a group or dataset"),
}


def _layout(other, shape):
    import h5py

    layout = h5py.VirtualLayout(shape=shape, dtype="f4")
    layout[:] = h5py.VirtualSource(str(other), "x", shape=shape)
    return layout


@pytest.mark.parametrize("case", list(OUTSIDE))
def test_an_h5_whose_blob_reads_outside_the_file_is_refused_naming_the_dataset(tmp_path, case, capsys):
    from data.hdf5 import UnsafeHDF5Error
    from tiny_nets import scoring_net

    h5, other = _tiny_h5(tmp_path), _other_file(tmp_path)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.full(64, 3.0, np.float32).tobytes())  # any file on disk: its bytes would be the bias
    make, what = OUTSIDE[case]
    _replace_bias(h5, lambda f, n, shape: make(f, n, shape, other, secret))
    said = f"{h5} was refused: /data/score/1 is {what.format(other=other, secret=secret)}"
    with pytest.raises(UnsafeHDF5Error, match=re.escape(said)):
        weights.load(scoring_net(), h5)
    with pytest.raises(UnsafeHDF5Error, match="reading this would read another file's bytes"):
        weights.read_weights(h5)
    assert convert_cli.main([str(h5), str(tmp_path / "out.pth"), "--net", "voc-fcn32s"]) == 1
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and not (tmp_path / "out.pth").exists()


@pytest.mark.parametrize("dtype", ["float16", "int32", "uint8"])
def test_an_h5_blob_of_float16_or_integers_is_refused_naming_the_dataset_and_type(tmp_path, dtype):
    from tiny_nets import scoring_net

    h5 = _tiny_h5(tmp_path)
    _replace_bias(h5, lambda f, n, shape: f.create_dataset(n, data=np.ones(shape, dtype)))
    with pytest.raises(weights.WeightsFormatError, match=f"tiny.h5: dataset /data/score/1 holds {dtype} values; "
                                                         "weights are float32 \\(float64 is converted\\)"):
        weights.load(scoring_net(), h5)


def test_an_h5_blob_of_float64_is_converted_to_float32(tmp_path):
    from tiny_nets import scoring_net

    h5 = _tiny_h5(tmp_path)
    bias = np.linspace(-1, 1, 21)
    _replace_bias(h5, lambda f, n, shape: f.create_dataset(n, data=bias.reshape(shape)))
    net = scoring_net()
    weights.load(net, h5)
    assert net.score.bias.dtype == torch.float32
    np.testing.assert_array_equal(net.score.bias.detach().numpy(), bias.astype(np.float32))


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    from mounts import read_only_folder

    yield from read_only_folder(tmp_path, monkeypatch)


@pytest.mark.parametrize("fmt", ["h5", "pth"])
def test_convert_to_a_read_only_folder_or_below_a_file_is_one_message_before_reading(tmp_path, read_only, fmt,
                                                                                     capsys):
    src = tmp_path / "w.caffemodel"
    write_caffemodel(src, FIRST)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine\n")
    for dst, said in ((read_only / f"w.{fmt}", f"DST's folder {read_only}: cannot write in {read_only} (Read-only "
                                              "file system)"),
                      (notes / f"w.{fmt}", f"DST's folder {notes} is a file, not a folder, so nothing can be "
                                           "written there")):
        assert convert_cli.main([str(src), str(dst), "--net", "none"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and said in err and "Traceback" not in err
    assert notes.read_text() == "mine\n"


@pytest.mark.parametrize("call, named", [("os.system", "os.system (posix.system)"), ("io.open", "io.open")])
def test_a_pickle_that_would_call_something_is_refused_naming_the_call_and_never_run(tmp_path, call, named,
                                                                                    capsys):
    import importlib

    module, _, name = call.rpartition(".")
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            target = getattr(importlib.import_module(module), name)
            return (target, (f"touch {marker}",) if call == "os.system" else (str(marker), "w"))

    evil = tmp_path / "evil.pth"
    torch.save({"conv1.weight": Payload()}, evil)
    with pytest.raises(weights.WeightsFormatError, match=re.escape(f"evil.pth was refused, not loaded: its pickle "
                                                                   f"calls {named}, which would run when unpickled")):
        weights.read_weights(evil)
    assert convert_cli.main([str(evil), str(tmp_path / "out.h5")]) == 1
    assert f"calls {named}" in capsys.readouterr().err and not marker.exists()

"""nyud-fcn16s-color-hha, the paper's FCN-16s RGB-HHA (CVPR Table 4, never released), without Caffe: the kit's
construction (nets/vgg.py fcn_two_stream), its derived crop offsets, the surgery from the 32s two-stream net and
its recipe training on a miniature NYUD tree."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import nets
import parity
from nets import geometry, vgg
from nets.layers import bilinear_kernel
from nets.net import CaffeNet
from tiny_nets import narrow, narrow_net
from weights import transplant as surgery

NAME = "nyud-fcn16s-color-hha"
STREAMS = ("color", "hha")


def test_its_crop_offsets_are_5_and_27_derived_only_with_no_reference_table():
    spec = nets.spec(NAME)
    assert spec.reference_offsets == {}  # the reference never published the net
    assert geometry.derive_crop_offsets(spec) == {"score_pool4c": 5, "score": 27}
    assert {x.name: x.offset for x in spec.layers if x.type == "Crop"} == {"score_pool4c": 5, "score": 27}
    for h, w in ((1, 1), (37, 51), (480, 640)):
        assert geometry.blob_sizes(spec, h, w)["score"] == (h, w)


def test_each_stream_scores_fr_and_pool4_the_scores_are_averaged_then_fcn16s_head_runs_once():
    spec = nets.spec(NAME)
    for s in STREAMS:
        assert spec.layer(f"score_pool4{s}").bottom == (f"pool4{s}",)
        assert spec.layer(f"score_fr{s}").bottom == (f"fc7{s}",)
    for fused, scores in (("score_fused", "score_fr"), ("score_pool4_fused", "score_pool4")):
        layer = spec.layer(fused)
        assert (layer.type, layer.bottom, layer.coeff) == ("Eltwise", tuple(f"{scores}{s}" for s in STREAMS),
                                                          (0.5, 0.5))
    # After the streams, FCN-16s's head layer for layer (names, types, kernels) on the fused scores.
    head = [x for x in spec.layers if not x.name.endswith(STREAMS) and x.name != "score_pool4_fused"]
    fcn16s = nets.spec("voc-fcn16s")
    fcn16s_head = [x for x in fcn16s.layers if x.name not in fcn16s.trunk_layers() | {"score_fr", "score_pool4"}]
    assert [(x.name, x.type, x.kernel_size, x.stride) for x in head[1:]] == [
        (x.name, x.type, x.kernel_size, x.stride) for x in fcn16s_head]
    assert spec.layer("upscore2").bottom == ("score_fused",)
    assert spec.layer("score_pool4c").bottom == ("score_pool4_fused", "upscore2")
    assert spec.layer("score").bottom == ("upscore16", "color")
    assert spec.streams == STREAMS and spec.trunk == ("fc7color", "fc7hha") and spec.outputs == ("score",)


def _single_stream_fcn16s(two_stream: CaffeNet, stream: str) -> CaffeNet:
    """An FCN-16s with one stream's weights of the two-stream net (its layers without the suffix)."""
    spec = narrow(geometry.resolve_crops(vgg.fcn(f"fcn16s-{stream}", 16, 40)))
    net = CaffeNet(spec)
    state = {k.replace(stream, "", 1): v for k, v in two_stream.state_dict().items() if stream in k.split(".")[0]}
    missing = net.load_state_dict(state, strict=False)
    assert set(missing.missing_keys) == {"upscore2.weight", "upscore16.weight"}  # bilinear buffers, as built
    assert not missing.unexpected_keys
    return net.eval()


def test_the_net_is_the_average_of_an_rgb_fcn16s_and_an_hha_fcn16s():
    """The claim that picks the construction: with frozen linear upsamplers and sums, averaging each stride's
    scores equals averaging two whole FCN-16s, as the reference's 32s net averages two FCN-32s."""
    net = narrow_net(NAME, seed=5).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(".bias"):
                p.uniform_(-0.1, 0.1, generator=torch.Generator().manual_seed(len(name)))
    rng = np.random.default_rng(3)
    color, hha = (torch.from_numpy(rng.normal(0, 50, (1, 3, 41, 53)).astype(np.float32)) for _ in range(2))
    with torch.no_grad():
        fused = net(color, hha)
        rgb = _single_stream_fcn16s(net, "color")(color)
        depth = _single_stream_fcn16s(net, "hha")(hha)
    expected = 0.5 * rgb + 0.5 * depth
    assert fused.shape == (1, 40, 41, 53) and float(fused.abs().max()) > 0
    err = float((fused - expected).abs().max() / expected.abs().max())
    assert err <= 1e-5, err
    # Not trivially so: the streams differ, and each stream's pool4 skip contributes.
    assert float((rgb - depth).abs().max()) > 0
    with torch.no_grad():
        for s in STREAMS:
            getattr(net, f"score_pool4{s}").weight.zero_()
            getattr(net, f"score_pool4{s}").bias.zero_()
        assert float((net(color, hha) - fused).abs().max()) > 1e-3 * float(fused.abs().max())


def _const(value: float, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.float32(value), shape)


def test_surgery_from_the_32s_two_stream_net_copies_every_layer_and_zeroes_both_pool4_scorers(capsys):
    source = {layer: [_const(1.0 + i, s) for s in shapes]
              for i, (layer, shapes) in enumerate(nets.spec("nyud-fcn32s-color-hha").param_shapes().items())}
    out = surgery.transplant(NAME, [source])
    printed = capsys.readouterr().out.splitlines()
    shapes = nets.spec(NAME).param_shapes()
    assert set(out) == set(shapes)
    for layer, blobs in source.items():
        if layer != "upscore":
            assert all(np.array_equal(a, b) for a, b in zip(out[layer], blobs, strict=True)), layer
            assert f"copying {layer} {' '.join(str(tuple(b.shape)) for b in blobs)} from source" in printed
    for s in STREAMS:
        assert [b.shape for b in out[f"score_pool4{s}"]] == [(40, 512, 1, 1), (40,)]
        assert not any(b.any() for b in out[f"score_pool4{s}"])
    assert np.array_equal(out["upscore2"][0], bilinear_kernel(40, 4).numpy())
    assert np.array_equal(out["upscore16"][0], bilinear_kernel(40, 32).numpy())
    assert any(x.startswith("dropping upscore (40, 40, 64, 64)") for x in printed)


def test_surgery_also_takes_the_color_and_hha_32s_nets_and_refuses_one_single_stream_net():
    one = {layer: [_const(3.0, s) for s in shapes]
           for layer, shapes in nets.spec("nyud-fcn32s-color").param_shapes().items()}
    out = surgery.transplant(NAME, [one, one], log=None)
    assert (out["conv1_1hha"][0] == 3).all() and not out["score_pool4color"][0].any()
    for net in (NAME, "nyud-fcn32s-color-hha"):
        with pytest.raises(surgery.TransplantError, match="one net per stream .* holds no layer of either stream"):
            surgery.transplant(net, [one], log=None)


def test_the_record_starts_it_from_the_32s_two_stream_net_and_holds_its_table4_row():
    rec = nets.record(NAME)
    assert rec.weights is None and rec.solver.init == ("nyud-fcn32s-color-hha",)
    assert (rec.solver.base_lr, rec.solver.momentum, rec.solver.iter_size, rec.solver.normalize) == (1e-14, 0.99,
                                                                                                  1, False)
    assert rec.input_tops == {"color": "color", "hha": "hha"} and rec.test == ("nyud", "test")
    row = rec.paper_row(4)
    assert row.method == "FCN-16s RGB-HHA" and row.numbers == {"pixel_accuracy": 65.4, "mean_accuracy": 46.1,
                                                                 "mean_iu": 34.0, "fw_iu": 49.5}
    assert rec.recipe("cvpr").base_lr == 1e-4


# ---- the recipe on a miniature NYUD tree ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def nyud_root(tmp_path_factory):
    from data import miniature

    root = tmp_path_factory.mktemp("data")
    miniature.build_nyud(root / "nyud", splits={"trainval": ["5001", "5002", "5003"], "test": ["5004"]},
                         size=(12, 14))
    return root


def _read(path) -> dict[str, list[np.ndarray]]:
    import weights

    return {x.name: x.blobs for x in weights.read_weights(path).layers}


def test_train_command_runs_the_recipe_on_a_miniature_nyud_tree(nyud_root, tmp_path, monkeypatch, capsys):
    """reproduce.train NET with the record's recipe (heavy: batch 1, momentum 0.99, lr 1e-14, summed loss),
    both inputs fed from their tops, two iterations on 12x14 pictures; the net narrowed (tests/tiny_nets.py) so
    that two VGG16 streams train in seconds. The new pool4 scorers leave zero; every layer gets history."""
    import weights
    from reproduce import train

    monkeypatch.setattr(nets, "build", lambda name, variant=None: narrow_net(name, variant))
    start = narrow_net(NAME)
    with torch.no_grad():
        for s in STREAMS:
            getattr(start, f"score_pool4{s}").weight.zero_()  # as surgery starts them
            getattr(start, f"score_pool4{s}").bias.zero_()
    init = weights.save(start, tmp_path / "init.h5")
    with pytest.warns(UserWarning):  # the miniature split is not the reference's list
        rc = train.main([NAME, "--init", str(init), "--data-root", str(nyud_root), "--iters", "2",
                         "--out", str(tmp_path / "out"), "--snapshot-every", "0"])
    assert rc == 0
    log = capsys.readouterr().out
    assert "reference regime: base_lr 1e-14, momentum 0.99, iter_size 1" in log and "iter 2, loss" in log
    assert "learning: all 34 parameter layers" in log and "upscore2, upscore16" in log
    out = tmp_path / "out" / NAME / f"{NAME}_iter_2.h5"
    trained, begun = _read(out), _read(init)
    for s in STREAMS:
        assert np.abs(trained[f"score_pool4{s}"][0]).max() > 0 and not begun[f"score_pool4{s}"][0].any()
    import h5py

    with h5py.File(out.with_name(f"{NAME}_iter_2.solverstate.h5"), "r") as f:
        moved = {k.split(".")[0] for k in f["history"] if np.abs(f["history"][k][()]).max() > 0}
    assert moved == set(nets.spec(NAME).param_shapes()) - {"upscore2", "upscore16"}


def test_the_narrowed_net_keeps_the_geometry_and_multipliers_of_the_net():
    full, thin = nets.spec(NAME), narrow(nets.spec(NAME))
    assert [dataclasses.replace(x, num_output=None) for x in full.layers] == [
        dataclasses.replace(x, num_output=None) for x in thin.layers]
    assert geometry.blob_sizes(full, 41, 53) == geometry.blob_sizes(thin, 41, 53)
    assert parity.INPUT_SIZES[NAME]  # the parity and golden cases know the net


def test_a_missing_file_given_with_weights_is_named_as_the_users_not_as_a_download(tmp_path, capsys):
    from reproduce import table4

    missing = tmp_path / "nope.h5"
    assert table4.main(["--weights", f"nyud-fcn16s-color-hha={missing}", "--nets", "nyud-fcn16s-color-hha",
                        "--data-root", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"weights of nyud-fcn16s-color-hha given with --weights: {missing}" in err
    assert "make weights NET=nyud-fcn16s-color-hha" not in err and "make data DATASET=nyud" in err

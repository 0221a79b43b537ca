"""The Caffe harness itself: small hand-written nets whose Caffe results are known from numpy.

These prove that forward/backward, caffemodel writing (current and V1) and the solver runner report what real
Caffe computes, so that the parity tests built on them compare the kit with Caffe and not with a broken pipe.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import harness

pytestmark = pytest.mark.caffe

# ---- numpy references (float64) ----------------------------------------------------------------------------


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """Caffe's Convolution (cross-correlation, zero padding, floor output size)."""
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = np.empty((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w) + b
    return out


def max_pool_ceil(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """Caffe's MAX Pooling without padding: ceil output size, the last window clipped to the input."""
    h, w = x.shape[2:]
    oh, ow = -(-(h - k) // s) + 1, -(-(w - k) // s) + 1
    out = np.empty(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = x[:, :, i * s:min(i * s + k, h), j * s:min(j * s + k, w)].max(axis=(2, 3))
    return out


def softmax_loss_1x1(x: np.ndarray, label: np.ndarray, w: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """A 1x1 Convolution "score" then SoftmaxWithLoss (ignore_label 255, normalize: false = divide by N):
    the loss and its gradients with respect to the weight, the bias, the score and the data."""
    n = x.shape[0]
    w2 = w[:, :, 0, 0]
    score = np.einsum("oc,nchw->nohw", w2, x) + b[None, :, None, None]
    p = np.exp(score - score.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    lab = label[:, 0].astype(np.int64)
    valid = lab != 255
    onehot = np.zeros_like(p)
    nn, hh, ww = np.nonzero(valid)
    onehot[nn, lab[nn, hh, ww], hh, ww] = 1.0
    loss = -np.log(p[nn, lab[nn, hh, ww], hh, ww]).sum() / n
    dscore = (p - onehot) * valid[:, None] / n
    return {
        "loss": loss,
        "score": score,
        "d_score": dscore,
        "d_weight": np.einsum("nohw,nchw->oc", dscore, x)[:, :, None, None],
        "d_bias": dscore.sum(axis=(0, 2, 3)),
        "d_data": np.einsum("oc,nohw->nchw", w2, dscore),
    }


def assert_same_bits(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    actual = np.asarray(actual)
    expected = np.asarray(expected, dtype=np.float32)
    assert actual.dtype == np.float32, f"{what}: dtype {actual.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    differ = np.flatnonzero(actual.view(np.uint32) != expected.view(np.uint32))
    assert differ.size == 0, f"{what}: {differ.size} values differ in their bits, the first at {differ[0]}"


def input_layer(name: str, shape: tuple[int, ...]) -> str:
    dims = " ".join(f"dim: {d}" for d in shape)
    return f'layer {{ name: "{name}" type: "Input" top: "{name}" input_param {{ shape {{ {dims} }} }} }}\n'


# ---- forward -----------------------------------------------------------------------------------------------

CONV_POOL = input_layer("data", (2, 3, 9, 11)) + """
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
"""


def test_conv_relu_ceil_pool_forward_equals_numpy(caffe) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 11)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    out = caffe.forward(CONV_POOL, {"conv1": [w, b]}, {"data": x})

    conv = np.maximum(conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 2, 1), 0)
    pool = max_pool_ceil(conv, 3, 2)
    assert out["layers"] == ["data", "conv1", "relu1", "pool1"]
    assert out["blob_names"] == ["data", "conv1", "pool1"]
    # ceil mode: 5x6 conv output -> 2x3, the last column window clipped (floor would give 2x2).
    assert out["blobs"]["pool1"].shape == (2, 4, 2, 3)
    assert_same_bits(out["blobs"]["data"], x, "data blob")
    np.testing.assert_allclose(out["blobs"]["conv1"], conv, rtol=1e-5, atol=1e-5)  # ReLU ran in place
    np.testing.assert_allclose(out["blobs"]["pool1"], pool, rtol=1e-5, atol=1e-5)


def test_crop_with_offsets_equals_slicing(caffe) -> None:
    net = input_layer("data", (1, 2, 10, 12)) + input_layer("ref", (1, 1, 5, 6)) + """
layer { name: "crop" type: "Crop" bottom: "data" bottom: "ref" top: "crop"
        crop_param { axis: 2 offset: 3 offset: 4 } }
layer { name: "crop_same" type: "Crop" bottom: "data" bottom: "ref" top: "crop_same"
        crop_param { axis: 2 offset: 5 } }
"""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 2, 10, 12)).astype(np.float32)
    ref = np.zeros((1, 1, 5, 6), np.float32)
    out = caffe.forward(net, {}, {"data": x, "ref": ref})
    assert_same_bits(out["blobs"]["crop"], x[:, :, 3:8, 4:10], "crop offset (3, 4)")
    assert_same_bits(out["blobs"]["crop_same"], x[:, :, 5:10, 5:11], "crop offset 5 on both axes")


SOFTMAX_NET = input_layer("data", (2, 3, 4, 5)) + input_layer("label", (2, 1, 4, 5)) + """
layer { name: "score" type: "Convolution" bottom: "data" top: "score"
        param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
        convolution_param { num_output: 3 kernel_size: 1 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss"
        loss_param { ignore_label: 255 normalize: false } }
"""


def softmax_problem(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    label = rng.integers(0, 3, (2, 1, 4, 5)).astype(np.float32)
    label[0, 0, 1, 1:4] = 255  # ignored pixels must not contribute
    w = (0.5 * rng.standard_normal((3, 3, 1, 1))).astype(np.float32)
    b = (0.5 * rng.standard_normal(3)).astype(np.float32)
    return x, label, w, b


def test_backward_gives_softmax_loss_gradients(caffe) -> None:
    x, label, w, b = softmax_problem(2)
    out = caffe.forward("force_backward: true\n" + SOFTMAX_NET, {"score": [w, b]},
                        {"data": x, "label": label}, backward=True)
    ref = softmax_loss_1x1(*(a.astype(np.float64) for a in (x, label, w, b)))
    assert out["loss_weights"] == {"loss": 1.0}
    np.testing.assert_allclose(out["loss"], ref["loss"], rtol=1e-6)
    np.testing.assert_allclose(out["blobs"]["loss"].sum(), ref["loss"], rtol=1e-6)
    np.testing.assert_allclose(out["param_diff"]["score"][0], ref["d_weight"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out["param_diff"]["score"][1], ref["d_bias"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out["blob_diff"]["score"], ref["d_score"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out["blob_diff"]["data"], ref["d_data"], rtol=1e-5, atol=1e-7)
    assert not out["blob_diff"]["label"].any(), "SoftmaxWithLoss does not backpropagate to its labels"


def test_forward_rejects_a_parameter_shape_caffe_does_not_have(caffe) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 11)).astype(np.float32)
    with pytest.raises(caffe.CaffeError, match=r"conv1 blob 0.*\(4, 3, 2, 2\).*\(4, 3, 3, 3\)"):
        caffe.forward(CONV_POOL, {"conv1": [np.zeros((4, 3, 2, 2)), np.zeros(4)]}, {"data": x})


def test_forward_rejects_missing_and_unknown_layers(caffe) -> None:
    x = np.zeros((2, 3, 9, 11), np.float32)
    with pytest.raises(caffe.CaffeError, match=r"lacks parameters for the net's layers \['conv1'\]"):
        caffe.forward(CONV_POOL, {}, {"data": x})
    with pytest.raises(caffe.CaffeError, match=r"layers \['conv9'\] that the net does not have"):
        caffe.forward(CONV_POOL, {"conv1": [np.zeros((4, 3, 3, 3)), np.zeros(4)], "conv9": []}, {"data": x})


SLASHED = input_layer("data", (1, 2, 5, 6)) + """
layer { name: "a" type: "Convolution" bottom: "data" top: "a"
        convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "a/b" type: "Convolution" bottom: "a" top: "a/b"
        convolution_param { num_output: 3 kernel_size: 3 pad: 1 } }
layer { name: "a/relu_b" type: "ReLU" bottom: "a/b" top: "a/b" }
"""


def test_layer_and_blob_names_with_slashes_cross_both_ways_as_nested_groups(caffe, tmp_path) -> None:
    # BVLC GoogLeNet names layers and blobs "inception_3a/1x1"; a layer "a" and a layer "a/b" share a group.
    rng = np.random.default_rng(4)
    params = {"a": [rng.standard_normal((2, 2, 1, 1)), rng.standard_normal(2)],
              "a/b": [rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)]}
    harness.write_params_h5(tmp_path / "p.h5", params)
    back = harness.read_params_h5(tmp_path / "p.h5")
    assert sorted(back) == ["a", "a/b"] and all(np.array_equal(back[k][1], np.float32(params[k][1])) for k in params)
    x = rng.standard_normal((1, 2, 5, 6)).astype(np.float32)
    out = caffe.forward(SLASHED, params, {"data": x})
    a = conv2d(x.astype(np.float64), params["a"][0], params["a"][1], 1, 0)
    want = np.maximum(conv2d(a, params["a/b"][0], params["a/b"][1], 1, 1), 0)
    assert out["layers"] == ["data", "a", "a/b", "a/relu_b"] and out["blob_names"] == ["data", "a", "a/b"]
    np.testing.assert_allclose(out["blobs"]["a/b"], want, rtol=1e-5, atol=1e-5)


def test_backward_without_force_backward_is_refused(caffe) -> None:
    x, label, w, b = softmax_problem(4)
    with pytest.raises(caffe.CaffeError, match="force_backward: true"):
        caffe.forward(SOFTMAX_NET, {"score": [w, b]}, {"data": x, "label": label}, backward=True)


def test_missing_build_error_names_the_build_command(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FCN_CAFFE_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(harness.CaffeNotBuilt, match="bash tests/caffe/build_caffe.sh"):
        harness.caffe_python()


# ---- caffemodels -------------------------------------------------------------------------------------------

SAVE_NET = input_layer("data", (1, 3, 8, 8)) + """
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "up" type: "Deconvolution" bottom: "conv" top: "up" param { lr_mult: 0 }
        convolution_param { num_output: 4 group: 4 kernel_size: 4 stride: 2 bias_term: false } }
layer { name: "crop" type: "Crop" bottom: "up" bottom: "data" top: "crop" crop_param { axis: 2 offset: 1 } }
layer { name: "fc" type: "InnerProduct" bottom: "crop" top: "fc" inner_product_param { num_output: 5 } }
"""

SAVE_SHAPES = {"conv": [(4, 3, 3, 3), (4,)], "up": [(4, 1, 4, 4)], "fc": [(5, 256), (5,)]}


def awkward_params(seed: int) -> dict[str, list[np.ndarray]]:
    """Random float32 blobs salted with values a lossy path would change: -0, subnormals, extremes."""
    rng = np.random.default_rng(seed)
    params = {layer: [rng.standard_normal(s).astype(np.float32) for s in shapes]
              for layer, shapes in SAVE_SHAPES.items()}
    salt = np.array([-0.0, 1e-45, -3e-39, np.finfo(np.float32).max, np.finfo(np.float32).tiny, 1 / 3],
                    np.float32)
    params["fc"][0].ravel()[:salt.size] = salt
    params["conv"][1][:] = salt[:4]
    return params


def read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def proto_fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """Decode one protobuf message into (field number, value) pairs (varints as int, the rest as bytes)."""
    out: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(buf, i)
        elif wire == 2:
            n, i = read_varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            value, i = buf[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wire} at byte {i}: not a protobuf message")
        out.append((field, value))
    return out


@pytest.fixture(scope="module")
def saved_models(caffe, tmp_path_factory) -> dict[str, tuple[dict[str, list[np.ndarray]], Path]]:
    """One caffemodel per format, {format: (params, path)}, shared by the tests below (each save costs a
    Caffe start-up)."""
    out = {}
    for seed, fmt in enumerate(("current", "v1")):
        params = awkward_params(5 + seed)
        folder = tmp_path_factory.mktemp(fmt)
        path = caffe.save_caffemodel(SAVE_NET, params, folder / f"{fmt}.caffemodel", v1=fmt == "v1")
        assert [p.name for p in folder.iterdir()] == [path.name], "a temporary file was left behind"
        out[fmt] = (params, path)
    return out


@pytest.mark.parametrize("fmt", ["current", "v1"])
def test_caffemodel_round_trip_is_bit_exact(caffe, saved_models, fmt: str) -> None:
    params, path = saved_models[fmt]
    loaded = caffe.dump_caffemodel(SAVE_NET, path)
    assert list(loaded) == list(SAVE_SHAPES)
    for layer, blobs in params.items():
        assert len(loaded[layer]) == len(blobs)
        for i, a in enumerate(blobs):
            assert_same_bits(loaded[layer][i], a, f"{layer} blob {i}")


def test_v1_caffemodel_has_v1_layers_and_legacy_blob_dims(saved_models) -> None:
    # Caffe's field numbers: NetParameter.layers = 2 (V1), .layer = 100 (current); V1LayerParameter.name = 4,
    # .type = 5 (enum), .blobs = 6; BlobProto.num/channels/height/width = 1..4, .shape = 7.
    net = proto_fields(saved_models["v1"][1].read_bytes())
    assert not [v for f, v in net if f == 100], "a V1 file has no current-format layer fields"
    layers = {}
    for f, v in net:
        if f == 2:
            fields = proto_fields(v)
            name = next(x for g, x in fields if g == 4).decode()
            blobs = [dict(proto_fields(x)) for g, x in fields if g == 6]
            layers[name] = (next(x for g, x in fields if g == 5), blobs)
    # Crop has no V1 type and no blobs, so it is left out; the Input layer became net-level input fields.
    assert list(layers) == ["conv", "up", "fc"]
    assert [t for t, _ in layers.values()] == [4, 39, 14]  # CONVOLUTION, DECONVOLUTION, INNER_PRODUCT
    legacy = {name: [tuple(b.get(k, 1) for k in (1, 2, 3, 4)) for b in blobs]
              for name, (_, blobs) in layers.items()}
    assert legacy == {"conv": [(4, 3, 3, 3), (1, 1, 1, 4)], "up": [(4, 1, 4, 4)],
                      "fc": [(1, 1, 5, 256), (1, 1, 1, 5)]}
    assert not any(7 in b for _, blobs in layers.values() for b in blobs), "V1 blobs carry no BlobShape"
    # NetParameter.input = 3, .input_dim = 4 (the V1-era way to declare the data blob).
    assert [v for f, v in net if f == 3] == [b"data"] and [v for f, v in net if f == 4] == [1, 3, 8, 8]


def test_current_caffemodel_has_current_layers(saved_models) -> None:
    net = proto_fields(saved_models["current"][1].read_bytes())
    assert not [v for f, v in net if f == 2], "a current-format file has no V1 layers"
    names = [dict(proto_fields(v))[1].decode() for f, v in net if f == 100]  # LayerParameter.name = 1
    # Net::ToProto writes the Split layer Caffe inserted because two layers read "data".
    assert names == ["data", "data_data_0_split", "conv", "up", "crop", "fc"]


# ---- solver ------------------------------------------------------------------------------------------------

SOLVER = """
base_lr: 0.1
lr_policy: "fixed"
momentum: 0.9
weight_decay: 0.01
max_iter: 100
"""


def test_two_sgd_steps_equal_hand_computed_momentum_updates(caffe) -> None:
    x, label, w, b = softmax_problem(8)
    records = caffe.solve(SOLVER, SOFTMAX_NET, {"score": [w, b]}, {"data": x, "label": label}, steps=2)
    assert [r["iter"] for r in records] == [1, 2]

    # Caffe's SGDSolver: V = momentum * V + base_lr * lr_mult * (grad + weight_decay * decay_mult * W),
    # then W -= V.
    lr, momentum, decay = 0.1, 0.9, 0.01
    mults = [(1.0, 1.0), (2.0, 0.0)]  # (lr_mult, decay_mult) of the weight and the bias
    params = [w.astype(np.float64), b.astype(np.float64)]
    history = [np.zeros_like(p) for p in params]
    for record in records:
        ref = softmax_loss_1x1(x.astype(np.float64), label.astype(np.float64), *params)
        np.testing.assert_allclose(record["loss"], ref["loss"], rtol=1e-5)
        for i, grad in enumerate((ref["d_weight"], ref["d_bias"])):
            lr_mult, decay_mult = mults[i]
            history[i] = momentum * history[i] + lr * lr_mult * (grad + decay * decay_mult * params[i])
            params[i] = params[i] - history[i]
            np.testing.assert_allclose(record["history"]["score"][i], history[i], rtol=1e-5, atol=1e-7,
                                       err_msg=f"iter {record['iter']} history of blob {i}")
            np.testing.assert_allclose(record["params"]["score"][i], params[i], rtol=1e-5, atol=1e-7,
                                       err_msg=f"iter {record['iter']} blob {i}")
    # The momentum carried into step 2 is far above the tolerance: a solver without it would fail above.
    assert momentum * np.abs(records[0]["history"]["score"][0]).min() > 1e-3

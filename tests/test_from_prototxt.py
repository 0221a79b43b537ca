"""nets.from_prototxt: kit nets from Caffe prototxts, with Caffe's defaults, checked crops and clear refusals."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import reference_tree
import torch

import nets
import parity
from nets import geometry
from nets.prototxt import PrototxtError, PrototxtWarning, UnsupportedLayerError, read_net, to_spec

DEPLOY_HEAD = ('layer { name: "input" type: "Input" top: "data"\n'
               '  input_param { shape { dim: 1 dim: 3 dim: 64 dim: 64 } } }\n')


def _write(tmp_path, text, name="net.prototxt"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", nets.NAMES)
def test_reference_layout_files_read_as_exactly_the_kits_layers(name, tmp_path):
    file = reference_tree.reference_files_of(name)[0]
    spec = to_spec(read_net(_write(tmp_path, reference_tree.net_text(name, file), file)))
    kit = nets.spec(name)
    assert spec.layers == kit.layers  # every field of every Layer, multipliers included
    assert (spec.inputs, spec.outputs, spec.losses) == (kit.inputs, kit.outputs, kit.losses)


@pytest.mark.parametrize("name", ["voc-fcn8s-atonce", "voc-fcn-alexnet", "nyud-fcn32s-color-d"])
def test_nets_built_from_reference_files_compute_what_nets_build_computes_bit_for_bit(name, tmp_path):
    file = reference_tree.reference_files_of(name)[-1]
    path = _write(tmp_path, reference_tree.net_text(name, file), file)
    params = parity.random_params(name, seed=3)
    ours = parity.load_params(nets.from_prototxt(path), params)
    kit = parity.load_params(nets.build(name), params)
    xs = [torch.from_numpy(a) for a in parity.random_inputs(name, seed=3, size=(38, 45)).values()]
    with torch.no_grad():
        a, b = ours.forward_blobs(*xs), kit.forward_blobs(*xs)
    assert list(a) == list(b)
    unequal = [blob for blob in a if not torch.equal(a[blob], b[blob])]
    assert not unequal, f"blobs that differ: {unequal}"
    assert float(b[kit.outputs[0]].abs().max()) > 0  # the comparison saw real numbers


def test_a_fresh_net_starts_as_nets_build_does(tmp_path):
    path = _write(tmp_path, reference_tree.deploy_text("voc-fcn8s"), "deploy.prototxt")
    ours, kit = nets.from_prototxt(path), nets.build("voc-fcn8s")
    assert ours.inputs == ("data",) and ours.outputs == ("score",)
    a, b = ours.state_dict(), kit.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_caffe_defaults_apply_where_the_file_is_silent(tmp_path):
    text = DEPLOY_HEAD + """
layer { name: "c" type: "Convolution" bottom: "data" top: "c"
        convolution_param { num_output: 8 kernel_h: 3 kernel_w: 3 } }
layer { name: "p" type: "Pooling" bottom: "c" top: "p" pooling_param { kernel_size: 2 stride: 2 } }
layer { name: "s" type: "Scale" bottom: "p" top: "s" param { lr_mult: 0 } }
layer { name: "u" type: "Deconvolution" bottom: "s" top: "u" param { lr_mult: 0 }
        convolution_param { num_output: 8 bias_term: false kernel_size: 4 stride: 2 } }
layer { name: "n" type: "LRN" bottom: "u" top: "n" }
layer { name: "d" type: "Dropout" bottom: "n" top: "n" }
"""
    spec = to_spec(read_net(_write(tmp_path, text)))
    c, p, s, u, n, d = spec.layers
    assert (c.kernel_size, c.pad, c.stride, c.group, c.bias_term, c.param) == (3, 0, 1, 1, True, ((1, 1), (1, 1)))
    assert (p.pool, p.pad) == ("MAX", 0)
    assert (s.scale_value, s.bias_term, s.param) == (1.0, False, ((0.0, 1.0),))  # no filler: Caffe fills 1
    assert u.param == ((0.0, 1.0),)  # decay_mult defaults to 1
    assert (n.local_size, n.alpha, n.beta, n.k) == (5, 1.0, 0.75, 1.0)
    assert d.dropout_ratio == 0.5 and spec.outputs == ("n",)


def test_an_unknown_layer_type_is_an_error_naming_the_type_and_the_layer(tmp_path):
    text = DEPLOY_HEAD + 'layer { name: "bn1" type: "BatchNorm" bottom: "data" top: "bn1" }\n'
    with pytest.raises(UnsupportedLayerError, match=r"net.prototxt:3: layer 'bn1' \(BatchNorm\): type 'BatchNorm' "
                                                    r"is not implemented by the kit; it implements Convolution"):
        nets.from_prototxt(_write(tmp_path, text))


@pytest.mark.parametrize(("setting", "says"), [
    ("pooling_param { pool: AVE kernel_size: 2 }", r"pooling_param.pool: AVE: only MAX pooling"),
    ("pooling_param { kernel_size: 2 round_mode: FLOOR }", r"pooling_param.round_mode: FLOOR"),
])
def test_a_setting_the_kit_cannot_compute_is_an_error_at_its_line(tmp_path, setting, says):
    text = DEPLOY_HEAD + f'layer {{ name: "p" type: "Pooling" bottom: "data" top: "p"\n  {setting} }}\n'
    with pytest.raises(UnsupportedLayerError, match=r"net.prototxt:4: layer 'p' \(Pooling\): " + says):
        nets.from_prototxt(_write(tmp_path, text))


def test_dilation_and_a_deconvolution_bias_are_refused(tmp_path):
    text = DEPLOY_HEAD + """layer { name: "c" type: "Convolution" bottom: "data" top: "c"
  convolution_param { num_output: 4 kernel_size: 3 dilation: 2 } }
layer { name: "u" type: "Deconvolution" bottom: "c" top: "u" convolution_param { num_output: 4 kernel_size: 2 } }
"""
    with pytest.raises(UnsupportedLayerError) as err:
        nets.from_prototxt(_write(tmp_path, text))
    assert "net.prototxt:4: layer 'c' (Convolution): convolution_param.dilation: [2]" in str(err.value)
    assert "net.prototxt:5: layer 'u' (Deconvolution): convolution_param.bias_term: true" in str(err.value)


def test_a_crop_offset_that_disagrees_with_the_geometry_raises_or_with_file_warns_and_is_kept(tmp_path):
    text = reference_tree.deploy_text("voc-fcn16s").replace("offset: 5", "offset: 6")
    path = _write(tmp_path, text, "deploy.prototxt")
    with pytest.raises(geometry.GeometryError, match=r"deploy.prototxt:\d+: crop 'score_pool4c' has offset 6 in "
                                                     r"the file, but the layer geometry derives 5"):
        nets.from_prototxt(path)
    with pytest.warns(PrototxtWarning, match="(?s)keeping the file's crop offsets.*'score_pool4c' has offset 6"):
        net = nets.from_prototxt(path, crop_offsets="file")
    assert net.spec.layer("score_pool4c").offset == 6 and net.spec.layer("score").offset == 27


def test_a_learned_upsampling_builds_with_a_warning_that_the_kit_keeps_it_frozen(tmp_path):
    text = reference_tree.deploy_text("voc-fcn32s").replace("lr_mult: 0 decay_mult: 1", "lr_mult: 1 decay_mult: 1")
    with pytest.warns(PrototxtWarning, match=r"upscore \(Deconvolution, lr_mult 1\).*frozen buffers"):
        net = nets.from_prototxt(_write(tmp_path, text))
    assert "upscore.weight" not in dict(net.named_parameters()) and "upscore.weight" in dict(net.named_buffers())


def test_legacy_input_fields_and_python_depth_tops_give_the_input_channels(tmp_path):
    legacy = ('input: "data"\ninput_dim: 1 input_dim: 4 input_dim: 9 input_dim: 9\n'
              'layer { name: "c" type: "Convolution" bottom: "data" top: "c"\n'
              '  convolution_param { num_output: 2 kernel_size: 1 } }\n')
    assert to_spec(read_net(_write(tmp_path, legacy))).inputs == {"data": 4}
    spec = to_spec(read_net(_write(tmp_path, reference_tree.net_text("nyud-fcn32s-color-d", "test.prototxt"))))
    assert spec.inputs == {"color": 3, "depth": 1} and spec.losses == (("loss", "score", "label"),)
    assert to_spec(read_net(_write(tmp_path, legacy)), input_channels={"data": 4}).inputs == {"data": 4}
    with pytest.raises(ValueError, match="input_channels gives 'data' 3 channels, but the file's input shape says 4"):
        to_spec(read_net(_write(tmp_path, legacy)), input_channels={"data": 3})


@pytest.mark.parametrize(("text", "says"), [
    ('layers { name: "c" type: CONVOLUTION }', r"net.prototxt:1:1: this is the old V1 format"),
    ('base_lr: 1e-10\nlr_policy: "fixed"\n', r"net.prototxt:1:1: this is a SolverParameter"),
    ('layer { name: "c" type: "Convolution" convolution_param { kernel_size: 3 pads: 1 } }',
     r"net.prototxt:1:74: layer 'c' convolution_param has no field 'pads'; its fields are: num_output"),
    ('layer { name: "c" type: "Convolution" convolution_param { num_output: 2.5 } }',
     r"net.prototxt:1:71: 'num_output' takes an integer, found 2.5"),
    ('layer { name: "c" type: "Convolution" convolution_param { kernel_size: 3 } }',
     r"net.prototxt:1: layer 'c' \(Convolution\): convolution_param.num_output is not set"),
    ('layer { name: "a" type: "ReLU" }\nlayer { name: "a" type: "ReLU" }',
     r"net.prototxt:2:7: two layers are named 'a'"),
    ('layer { name: "e" type: "Eltwise" bottom: "a" bottom: "b" eltwise_param { coeff: 1 } }',
     r"net.prototxt:1: layer 'e' \(Eltwise\): 1 coefficients for 2 bottoms"),
])
def test_malformed_nets_are_errors_at_their_line(tmp_path, text, says):
    with pytest.raises(PrototxtError, match=says):
        read_net(_write(tmp_path, text))


def test_a_bottom_nothing_produces_is_an_error(tmp_path):
    text = DEPLOY_HEAD + 'layer { name: "e" type: "Eltwise" bottom: "data" bottom: "conv9" top: "e" }\n'
    says = r"net.prototxt:3: layer 'e' \(Eltwise\): bottom\(s\) \['conv9'\] are made by no earlier layer"
    with pytest.raises(UnsupportedLayerError, match=says):
        nets.from_prototxt(_write(tmp_path, text))


def test_the_variant_fixture_builds_with_its_own_names_and_derived_offsets():
    from pathlib import Path

    path = Path(__file__).parent / "fixtures" / "fcn8s-cityscapes-variant.prototxt"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        net = nets.from_prototxt(path)
    assert [str(w.message) for w in seen if issubclass(w.category, PrototxtWarning)]  # its learned upsampler
    crops = {x.name: x.offset for x in net.layers if x.type == "Crop"}
    assert crops == geometry.derive_crop_offsets(net.spec) == {"cls_pool4_crop": 5, "cls_pool3_crop": 9,
                                                                "score_city": 31}
    assert net.num_classes == 20 and net.outputs == ("score_city",)
    x = torch.from_numpy(np.zeros((1, 3, 33, 41), np.float32))
    with torch.no_grad():
        assert tuple(net(x).shape) == (1, 20, 33, 41)

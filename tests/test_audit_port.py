"""The port audit (reproduce.audit.port): the kit's own nets and torchfcn 1.9.7's models come out equal to the kit
nets they implement; mutants of torchfcn's FCN8s are each reported at the right blob, with the right kind and
number; what cannot be mapped is refused with one message.

The fast tier audits narrowed nets (tests/tiny_nets.narrow: the reference's layers, kernels, strides, pads and
crops at 1/32 of the width; torchfcn's models narrowed the same way, their forward untouched) at small input
sizes chosen so that the geometry the test is about shows; the slow tier audits torchfcn's full-size models at
the default sizes.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nets
from nets.net import CaffeNet
from nets.seeded import seeded_weights
from reproduce.audit import port as P
from reproduce.audit.port_localise import ERROR, FLOOR, PADDING, SCALE, SHIFT, UPSAMPLING
from reproduce.audit.port_mapping import MappingError
from tests.tiny_nets import narrow
from tests.torchfcn_models import torchfcn_models

# Small inputs that still show each geometry (every size works: conv1_1 pads by 100): 64x64 rounds at pool2 and
# pool3 only, 65x64 at pool1 too (its height is odd).
EVEN, ODD = (64, 64), (65, 64)


def narrow_kit(name: str) -> CaffeNet:
    return seeded_weights(CaffeNet(narrow(nets.spec(name))), 0).eval()


def narrowed(model_class: type) -> nn.Module:
    """A torchfcn model with every convolution but the score layers 1/32 as wide (at least 2), as
    tests.tiny_nets.narrow narrows the kit's: built on the meta device (no 134M weights to allocate), its
    convolutions swapped for narrow ones, then given memory and torchfcn's own initialisation; its forward runs
    as written."""
    with torch.device("meta"):
        model = model_class(n_class=21)
    for name, m in list(model.named_children()):
        if isinstance(m, nn.Conv2d):
            c_in = m.in_channels if name == "conv1_1" else max(2, m.in_channels // 32)
            c_out = m.out_channels if name.startswith("score") else max(2, m.out_channels // 32)
            setattr(model, name, nn.Conv2d(c_in, c_out, m.kernel_size, m.stride, m.padding, device="meta"))
    model.to_empty(device="cpu")
    model._initialize_weights()  # torchfcn's: zero convolutions, bilinear upsampling kernels
    return model


@pytest.fixture(scope="module")
def torchfcn():
    return torchfcn_models()


@pytest.fixture(scope="module")
def fcn8s():
    return narrow_kit("voc-fcn8s")


def crop(x: torch.Tensor, like: torch.Tensor, offset: int) -> torch.Tensor:
    return x[:, :, offset:offset + like.shape[2], offset:offset + like.shape[3]]


def mutant_of(fcn8s_class: type, crop_pool4: int = 5, final: str = "deconvolution") -> nn.Module:
    """torchfcn's FCN8s modules (narrowed) under a forward written here in torchfcn's order, with one change: the
    crop offset of score_pool4, or the final upsampling done by F.interpolate(bilinear, align_corners=False)
    to the input's size, uncropped. With neither change it computes torchfcn's FCN8s (a test says so)."""
    trunk = [f"{kind}{b}_{i}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)) for i in range(1, n + 1)
             for kind in ("conv", "relu")]

    class Mutant(fcn8s_class):
        def forward(self, x):
            h, pools = x, {}
            for name in trunk:
                h = getattr(self, name)(h)
                if name.startswith("relu") and name.endswith(("1_2", "2_2", "3_3", "4_3", "5_3")):
                    block = name[4]
                    h = pools[block] = getattr(self, f"pool{block}")(h)
            for name in ("fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "score_fr", "upscore2"):
                h = getattr(self, name)(h)
            h = self.upscore_pool4(h + crop(self.score_pool4(pools["4"]), h, crop_pool4))
            h = h + crop(self.score_pool3(pools["3"]), h, 9)
            if final == "interpolate":
                return F.interpolate(h, size=x.shape[2:], mode="bilinear", align_corners=False)
            return crop(self.upscore8(h), x, 31).contiguous()

    return narrowed(Mutant)


# ---- equal ----------------------------------------------------------------------------------------------------


class KitPlainPath(nn.Module):
    """A kit net as a port: its plain path (layer by layer through its modules), as a port computes."""

    def __init__(self, net: CaffeNet):
        super().__init__()
        self.net = net

    def forward(self, x):
        with nets.inference.disabled():
            return self.net(x)


@pytest.mark.parametrize("name", ["voc-fcn8s-atonce", "voc-fcn-alexnet"])  # voc-fcn32s: the command's tests
def test_the_kits_own_nets_audited_as_ports_come_out_equal(name):
    net = narrow_kit(name)
    as_port = KitPlainPath(CaffeNet(net.spec))  # zero weights: the audit maps the kit's into it
    audit = P.audit_port(as_port, net, [ODD])
    assert audit.verdict == "equal", P.summary(audit)
    assert audit.largest_error <= 1e-6 and audit.lowest_agreement == 1.0
    assert all(p.port for p in audit.mapping.pairs)  # every parameter layer found its own module


@pytest.mark.parametrize("cls,name", [("FCN32s", "voc-fcn32s"), ("FCN16s", "voc-fcn16s"), ("FCN8s", "voc-fcn8s"),
                                      ("FCN8sAtOnce", "voc-fcn8s-atonce")])
def test_torchfcn_narrowed_is_equal_to_the_kit_net_it_implements(torchfcn, cls, name):
    audit = P.audit_port(narrowed(torchfcn[cls]), narrow_kit(name), [ODD])
    assert audit.verdict == "equal", P.summary(audit)
    assert audit.finding is None and audit.largest_error <= 1e-5
    notes = "\n".join(audit.mapping.notes)
    assert "upscore" in notes and "trainable parameter" in notes and "nn.Dropout2d" in notes


@pytest.mark.slow  # four full-size VGG16 pairs at three sizes: about 25 s each on a quiet 2-core machine, 2.5 GB
@pytest.mark.parametrize("cls,name", [("FCN32s", "voc-fcn32s"), ("FCN16s", "voc-fcn16s"), ("FCN8s", "voc-fcn8s"),
                                      ("FCN8sAtOnce", "voc-fcn8s-atonce")])
def test_torchfcn_full_size_is_equal_to_the_kit_net_at_the_default_sizes(torchfcn, cls, name):
    net = seeded_weights(nets.build(name), 0)
    audit = P.audit_port(torchfcn[cls](n_class=21), net)
    assert [r.size for r in audit.runs] == [(500, 500), (375, 500), (507, 507)]
    assert audit.verdict == "equal", P.summary(audit)
    assert audit.largest_error <= 1e-5 and audit.lowest_agreement >= 0.9999


def test_the_mutant_forward_without_a_change_is_equal(torchfcn, fcn8s):
    audit = P.audit_port(mutant_of(torchfcn["FCN8s"]), fcn8s, [ODD])
    assert audit.verdict == "equal", P.summary(audit)


# ---- mutants of torchfcn's FCN8s --------------------------------------------------------------------------------


def test_crop_offset_6_is_a_spatial_shift_at_score_pool4c_offset_6_not_5(torchfcn, fcn8s):
    audit = P.audit_port(mutant_of(torchfcn["FCN8s"], crop_pool4=6), fcn8s, [EVEN])
    f = audit.finding
    assert audit.verdict == "differs" and (f.blob, f.kind) == ("score_pool4c", SHIFT), P.summary(audit)
    assert f.offset == (6, 6) and f.reference_offset == 5
    assert f.message.startswith("score_pool4c: offset 6, the reference's is 5")


def test_floor_pooling_is_found_at_the_first_pooling_whose_input_is_odd_naming_the_sizes(torchfcn, fcn8s):
    port = narrowed(torchfcn["FCN8s"])
    for m in port.modules():
        if isinstance(m, nn.MaxPool2d):
            m.ceil_mode = False
    audit = P.audit_port(port, fcn8s, [EVEN, ODD])
    f = audit.finding
    # 64 + 198 = 262 is even at pool1, odd (131) at pool2; 65 + 198 = 263 is odd at pool1 already.
    assert (f.blob, f.kind, f.size) == ("pool1", FLOOR, ODD), P.summary(audit)
    assert "sizes differ for the 65x64 input and agree for the 64x64 input" in f.message
    assert "ceil_mode=False" in f.message


def test_conv1_1_padding_0_is_an_input_padding_difference_explained_by_0(torchfcn, fcn8s):
    port = narrowed(torchfcn["FCN8s"])
    port.conv1_1.padding = (0, 0)
    audit = P.audit_port(port, fcn8s, [(224, 224)])
    f = audit.finding
    assert (f.blob, f.kind, f.padding) == ("conv1_1", PADDING, 0), P.summary(audit)
    assert "conv1_1: input padding 0 where the reference's is 100" in f.message
    assert "a padding of 0 explains" in f.message


def test_final_interpolation_is_an_upsampling_difference_at_upscore8_naming_the_mode(torchfcn, fcn8s):
    audit = P.audit_port(mutant_of(torchfcn["FCN8s"], final="interpolate"), fcn8s, [EVEN])
    f = audit.finding
    assert (f.blob, f.kind) == ("upscore8", UPSAMPLING), P.summary(audit)
    assert f.interpolation == "F.interpolate(mode='bilinear', align_corners=False)"
    assert "without the crop score (offset 31 in the reference)" in f.message
    assert any("upscore8" in n and "no module" in n for n in audit.mapping.notes)


def test_torchfcns_fcn8s_against_the_at_once_net_leaves_out_its_scales(torchfcn):
    audit = P.audit_port(narrowed(torchfcn["FCN8s"]), narrow_kit("voc-fcn8s-atonce"), [EVEN])
    f = audit.finding
    assert (f.blob, f.kind) == ("scale_pool4", SCALE), P.summary(audit)


def test_the_at_once_port_against_voc_fcn8s_is_a_factor_0_01_on_pool4_and_names_the_net_that_has_it(torchfcn,
                                                                                                      fcn8s):
    audit = P.audit_port(narrowed(torchfcn["FCN8sAtOnce"]), fcn8s, [EVEN])
    f = audit.finding
    assert (f.blob, f.kind) == ("pool4", SCALE) and abs(f.factor - 0.01) < 1e-6, P.summary(audit)
    assert "--net voc-fcn8s-atonce" in f.message


# ---- refusals and the command ------------------------------------------------------------------------------------


def test_a_layer_without_a_partner_is_refused_naming_it(torchfcn, fcn8s):
    port = narrowed(torchfcn["FCN8s"])
    port.bn = nn.BatchNorm2d(21)
    port.score_fr = nn.Sequential(port.score_fr, port.bn)
    del port.bn
    with pytest.raises(MappingError, match=r"the port's score_fr\.1 \(BatchNorm2d: weight 21, bias 21\) is not a "
                                           r"layer of voc-fcn8s's layers"):
        P.audit_port(port, fcn8s, [EVEN])
    with pytest.raises(MappingError, match="the kit's score_pool3 .* has no partner in the port"):
        P.audit_port(narrowed(torchfcn["FCN16s"]), fcn8s, [EVEN])


# ---- the command -------------------------------------------------------------------------------------------------

PORT_FILE = '''
import nets
from nets.net import CaffeNet
from tests.test_audit_port import KitPlainPath
from tests.tiny_nets import narrow


def fcn32s(offset=19):
    """voc-fcn32s narrowed, its final crop at ``offset``: the kit's own net written as a port."""
    import dataclasses
    spec = narrow(nets.spec("voc-fcn32s"))
    layers = tuple(dataclasses.replace(x, offset=offset) if x.name == "score" else x for x in spec.layers)
    return KitPlainPath(CaffeNet(dataclasses.replace(spec, layers=layers)))


def broken():
    return 1 / 0
'''


@pytest.fixture
def command(tmp_path, monkeypatch, capsys):
    """reproduce.audit.port's main() on a port file in tmp_path, the kit's voc-fcn32s narrowed (as
    tests.tiny_nets.use_tiny_nets narrows the entry points' nets); returns (status, stdout, stderr)."""
    (tmp_path / "myport.py").write_text(PORT_FILE)
    monkeypatch.setattr(nets, "build", lambda name: CaffeNet(narrow(nets.spec(name))).eval())

    def run(*args: str):
        status = P.main([*args, "--size", "64x64"])
        out = capsys.readouterr()
        return status, out.out, out.err
    return run


def test_the_command_exits_0_on_an_equal_port_and_writes_its_record_and_page(command, tmp_path):
    record, page = tmp_path / "audit.json", tmp_path / "audit.html"
    status, out, err = command(f"{tmp_path}/myport.py:fcn32s", "--net", "voc-fcn32s", "--json", str(record),
                               "--html", str(page))
    assert status == 0, err
    assert "verdict: equal" in out and "upscore" in out and f"record: {record}" in out
    rec = json.loads(record.read_text())
    assert rec["verdict"] == "equal" and rec["net"] == "voc-fcn32s" and rec["first_difference"] is None
    assert [p["kit"] for p in rec["mapping"]][-1] == "upscore" and rec["sizes"][0]["size"] == "64x64"
    assert rec["sizes"][0]["profile"][-1]["point"] == "score (the output)"
    html = page.read_text()
    assert "Port audit" in html and "badge ok" in html and "&lt;" not in rec["port"]


def test_the_command_exits_1_and_names_the_crop_when_the_port_crops_at_20(command, tmp_path):
    status, out, err = command(f"{tmp_path}/myport.py:fcn32s", "--net", "voc-fcn32s", "--kwargs", '{"offset": 20}',
                               "--json", str(tmp_path / "r.json"))
    assert status == 1, err
    assert "the first Caffe blob the port does not reproduce is score (spatial shift" in out
    assert "score: offset 20, the reference's is 19" in out
    assert json.loads((tmp_path / "r.json").read_text())["first_difference"]["offset"] == [20, 20]


@pytest.mark.parametrize("port,message", [
    ("myport.py", "the port is named FILE.py:FACTORY or module.path:FACTORY"),
    ("nowhere.py:F", "the port file nowhere.py does not exist"),
    ("{tmp}/myport.py:nothing", "has no class or function 'nothing'"),
    ("{tmp}/myport.py:broken", "the port's {tmp}/myport.py:broken raised ZeroDivisionError: division by zero when "
                               "called at {tmp}/myport.py:"),
])
def test_a_port_that_cannot_be_audited_exits_2_with_one_message(command, tmp_path, port, message):
    status, out, err = command(port.format(tmp=tmp_path), "--net", "voc-fcn32s")
    assert status == 2 and out == ""
    assert err.startswith("error: cannot audit") and message.format(tmp=tmp_path) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_torchfcn_named_as_a_package_without_its_fcn_dependency_names_the_kits_importer(command):
    if importlib.util.find_spec("torchfcn") is None or importlib.util.find_spec("fcn") is not None:
        pytest.skip("needs torchfcn installed without its fcn package, as make setup installs it")
    status, out, err = command("torchfcn.models:FCN8s", "--net", "voc-fcn8s")
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "No module named 'fcn'" in err
    assert "PORT=benchmarks/torchfcn_import.py:torchfcn_model KWARGS='{\"name\": \"voc-fcn8s\"}'" in err


def test_a_record_the_user_named_is_kept_unless_force(command, tmp_path):
    kept = tmp_path / "mine.json"
    kept.write_text("mine")
    status, out, err = command(f"{tmp_path}/myport.py:fcn32s", "--net", "voc-fcn32s", "--json", str(kept))
    assert status == 2 and "exists already and is kept: pass --force" in err and kept.read_text() == "mine"


@pytest.mark.parametrize("name", ["voc-fcn8s", "voc-fcn-alexnet"])
def test_the_default_sizes_make_every_pooling_round_at_some_size(name):
    """Floor and ceil pooling differ only where a pooling's padded input minus its kernel is not a multiple of
    its stride: the default sizes show every pooling layer doing so at least once."""
    spec = nets.spec(name)
    sizes = P.default_sizes(spec)
    assert sizes[:2] == [(500, 500), (375, 500)] and len(sizes) <= 4
    pools = {x.name for x in spec.layers if x.type == "Pooling"}
    assert set().union(*(P.rounding_pools(spec, h, w) for h, w in sizes)) == pools
    assert P.rounding_pools(spec, 500, 500) == {"pool2", "pool3"} if name == "voc-fcn8s" else True


class RaisesOnOddHeights(KitPlainPath):
    def forward(self, x):
        if x.shape[2] % 2:
            self.net.conv1_1(x)
            raise RuntimeError("no odd heights here")
        return super().forward(x)


def test_a_port_that_raises_at_one_size_is_an_error_at_the_layer_it_did_not_reach():
    net = narrow_kit("voc-fcn32s")
    audit = P.audit_port(RaisesOnOddHeights(CaffeNet(net.spec)), net, [EVEN, ODD])
    f = audit.finding
    assert (f.blob, f.kind, f.size) == ("relu1_1", ERROR, ODD), P.summary(audit)
    assert "RuntimeError: no odd heights here (the port's last module called: net.conv1_1)" in f.message
    assert audit.runs[0].equal and audit.runs[1].error == "RuntimeError: no odd heights here"


class PreprocessesItself(KitPlainPath):
    """A port whose forward takes the picture as RGB in [0, 1] and makes the reference's input itself."""

    def forward(self, x):
        mean = torch.tensor(nets.record("voc-fcn32s").inputs[0].mean).view(1, 3, 1, 1)
        return super().forward(x.flip(1) * 255 - mean)


def test_input_rgb01_feeds_a_port_that_preprocesses_itself_what_it_expects():
    net = narrow_kit("voc-fcn32s")
    assert P.audit_port(PreprocessesItself(CaffeNet(net.spec)), net, [EVEN], "rgb01").verdict == "equal"
    audit = P.audit_port(PreprocessesItself(CaffeNet(net.spec)), net, [EVEN])  # fed the kit's input instead
    assert audit.finding.blob == "data", P.summary(audit)
    assert "the port's forward changes its input before conv1_1" in audit.finding.message
    assert "--input feeds it the picture as it expects" in audit.finding.message


def test_make_audit_port_hands_the_values_over_as_typed_and_explains_a_missing_port(tmp_path):
    """PORT, NET and KWARGS reach the command through the environment: make's $(shell ...), a backquote and
    quotes in them stay text, and the command gets each as one argument."""
    import subprocess
    import sys

    show = tmp_path / "show.py"
    show.write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    stamp = tmp_path / "installed"
    stamp.touch()
    port = 'my port.py:F$(shell echo MAKE)"`echo SHELL`'
    done = subprocess.run(["make", "--no-print-directory", "-s", "audit-port", f"PORT={port}", "NET=voc-fcn8s",
                           'KWARGS={"n_class": 21}', f"STAMP={stamp}", f"PY={sys.executable} {show}"],
                          capture_output=True, text=True, timeout=60, cwd=P.REPO)
    assert done.returncode == 0, done.stderr
    argv = json.loads(done.stdout.strip().splitlines()[-1])
    assert argv == ["-m", "reproduce.audit.port", port, "--net=voc-fcn8s", '--kwargs={"n_class": 21}']
    missing = subprocess.run(["make", "--no-print-directory", "audit-port", "NET=voc-fcn8s", f"STAMP={stamp}"],
                             capture_output=True, text=True, timeout=60, cwd=P.REPO)
    assert missing.returncode == 2 and "make audit-port needs PORT=FILE.py:FACTORY" in missing.stderr

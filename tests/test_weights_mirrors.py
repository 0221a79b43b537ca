"""Weights from anywhere: each zoo entry's sources in order (the reference's server, then torchfcn's and Chainer
fcn's copies on Google Drive), Drive's download confirmation, sources of the user's own (--source), each file
verified against its own source's checksum and converted by content to a complete .h5. Against a local server on
127.0.0.1 that answers as Drive does (tests/http_server.FakeDrive); never the real internet."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from http_server import FakeDrive, LocalServer

import nets
import weights
from data import drive
from data.errors import DownloadError
from nets.net import CaffeNet
from nets.registry import BERKELEY, CHAINER_FCN, DRIVE, TORCHFCN, Source, Weights
from nets.spec import TRAINED, NetSpec, conv, scale
from weights import zoo
from weights.caffemodel import CaffeLayer, write_caffemodel
from weights.h5 import read_h5
from weights.torch_state import write_state_dict

REPO = Path(__file__).resolve().parent.parent
AT_ONCE = "voc-fcn8s-atonce"


@pytest.fixture
def server():
    with LocalServer() as s:
        yield s


@pytest.fixture
def fake_drive(server, monkeypatch):
    """Drive on the local server: its host joins DRIVE_HOSTS, so the kit's own Drive code path runs on it."""
    monkeypatch.setattr(drive, "DRIVE_HOSTS", {*drive.DRIVE_HOSTS, server.url("").split("//")[1]})
    return FakeDrive(server)


def closed_port() -> int:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def payload_bytes(n: int = 300_000, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).bytes(n)


# ---- a tiny net with a Scale layer standing in for the at-once FCN-8s (whose file would be 540 MB) ---------


def tiny_at_once(name: str = AT_ONCE) -> NetSpec:
    """conv1 (3->4, 3x3), a frozen Scale of 0.01 (as the at-once net scales pool4), a 1x1 score with 2 outputs."""
    layers = (conv("conv1", "data", 4, 3, pad=1, param=TRAINED), scale("scale_conv1", "conv1", 0.01),
              conv("score", "scale_conv1", 2, 1, param=TRAINED))
    return NetSpec(name, {"data": 3}, layers, ("score",))


@pytest.fixture
def tiny_net(monkeypatch):
    """nets.spec gives the tiny net for voc-fcn8s-atonce; the zoo, the converter and the check all read it."""
    real = nets.spec
    monkeypatch.setattr(nets, "spec", lambda name: tiny_at_once(name) if name == AT_ONCE else real(name))
    return tiny_at_once()


def torchfcn_file(path: Path, seed: int = 1, spec: NetSpec | None = None) -> dict[str, list[np.ndarray]]:
    """A torchfcn-style state_dict for the tiny net: Caffe names, no Scale blobs (torchfcn scales in code)."""
    rng = np.random.default_rng(seed)
    params = {name: [rng.standard_normal(s, dtype=np.float32) for s in shapes]
              for name, shapes in (spec or tiny_at_once()).param_shapes().items() if not name.startswith("scale")}
    write_state_dict(path, [CaffeLayer(name, "", tuple(blobs)) for name, blobs in params.items()])
    return params


# ---- the sources each entry lists ----------------------------------------------------------------------------


def test_the_vgg_voc_releases_and_vgg16_list_the_reference_then_torchfcn_then_chainer_fcn_each_with_its_md5():
    expected = {  # torchfcn's files and md5s (torchfcn/models/*.py); wkentaro/fcn's md5s (fcn/models/*.py)
        "voc-fcn32s": ("fcn32s-heavy-pascal.caffemodel", "fcn32s_from_caffe.pth", "d3eb467a80e7da0468a20dfcbc13e6c8",
                       "fcn32s_from_caffe.npz", "b7f0a2e66229ccdb099c0a60b432e8cf"),
        "voc-fcn16s": ("fcn16s-heavy-pascal.caffemodel", "fcn16s_from_caffe.pth", "a2d4035f669f09483b39c9a14a0d6670",
                       "fcn16s_from_caffe.npz", "7c9b50a1a8c6c20d3855d4823bbea61e"),
        "voc-fcn8s": ("fcn8s-heavy-pascal.caffemodel", "fcn8s_from_caffe.pth", "de93e540ec79512f8770033849c8ae89",
                      "fcn8s_from_caffe.npz", "256c2a8235c1c65e62e48d3284fbd384"),
        AT_ONCE: ("fcn8s-atonce-pascal.caffemodel", "fcn8s-atonce_from_caffe.pth", "bfed4437e941fef58932891217fe6464",
                  "fcn8s-atonce_from_caffe.npz", "5f3ffdc7fae1066606e1ef45cfda548f"),
        "vgg16": ("VGG_ILSVRC_16_layers.caffemodel", "vgg16_from_caffe.pth", "aa75b158f4181e7f6230029eb96c1b13",
                  "vgg16_from_caffe.npz", "54a0cddc1392ccc4056bbeecbb30f3d4"),
    }
    for name, (reference, pth, pth_md5, npz, npz_md5) in expected.items():
        first, *_ = zoo.MANIFEST[name].sources  # the caffemodel mirrors of issue 27 come before the converted copies
        torchfcn, chainer = (s for s in zoo.MANIFEST[name].sources if drive.is_drive(s.url))
        assert first.filename == reference and first.format == "caffemodel"
        assert (torchfcn.filename, dict(torchfcn.checksums), torchfcn.checksums_by) == (pth, {"md5": pth_md5}, TORCHFCN)
        assert torchfcn.format == ("torchvision-vgg16" if name == "vgg16" else "state_dict")
        assert (chainer.filename, dict(chainer.checksums), chainer.checksums_by) == (npz, {"md5": npz_md5}, CHAINER_FCN)
        assert chainer.format == "chainer-npz"
        assert torchfcn.url.startswith(DRIVE) and chainer.url.startswith(DRIVE)
        assert drive.is_drive(torchfcn.url) and drive.is_drive(chainer.url) and not drive.is_drive(first.url)
    assert zoo.MANIFEST["voc-fcn32s"].sources[1].url == f"{DRIVE}11k2Q0bvRQgQbT6-jYWeh6nmAsWlSCY3f"
    assert zoo.MANIFEST[AT_ONCE].sources[1].url == f"{DRIVE}0B9P1L--7Wd2vblE1VUIxV1o2d2M"
    assert zoo.MANIFEST["vgg16"].sources[3].url == f"{DRIVE}1adDBTGY3GcEB_47dvcibajyzi872RAs3"
    others = [n for n in zoo.MANIFEST if n not in expected and n not in ("caffenet", "googlenet")]
    assert others and all(len(zoo.MANIFEST[n].sources) == 1 for n in others)  # no known copies of the rest
    assert all(zoo.MANIFEST[n].sources[0].url.startswith(BERKELEY) for n in others)


def test_drive_file_ids_are_read_from_uc_open_and_share_links():
    assert drive.file_id(f"{DRIVE}0B9P1L--7Wd2vblE1VUIxV1o2d2M") == "0B9P1L--7Wd2vblE1VUIxV1o2d2M"
    share = "https://drive.google.com/file/d/1ieXWyoG68xqoHJPWdyrDyaIaaWlfmUxI/view?usp=sharing"
    assert drive.file_id(share) == "1ieXWyoG68xqoHJPWdyrDyaIaaWlfmUxI"
    assert drive.download_url(share) == f"{DRIVE}1ieXWyoG68xqoHJPWdyrDyaIaaWlfmUxI"
    assert drive.download_url(f"{DRIVE}x") == f"{DRIVE}x"
    assert drive.file_id("https://drive.google.com/open?id=abc") == "abc"


# ---- Google Drive's confirmation ---------------------------------------------------------------------------


@pytest.mark.parametrize("flow", ["direct", "form", "link", "cookie"])
def test_a_drive_file_arrives_whole_whichever_way_drive_asks_to_confirm_it(server, fake_drive, tmp_path, flow):
    content = payload_bytes()
    url = fake_drive.add("FILE1", content, flow)
    dest = drive.download(url, tmp_path / "f.pth", progress=False)
    assert dest.read_bytes() == content and sorted(p.name for p in tmp_path.iterdir()) == ["f.pth"]
    confirmed = {"direct": "/uc?id=FILE1", "form": "/download?id=FILE1&export=download&confirm=t&uuid=",
                 "link": "/uc?export=download&confirm=T0kEn&id=FILE1", "cookie": "/uc?id=FILE1&confirm=T0kEn"}
    assert server.behaviour.paths[-1].startswith(confirmed[flow])  # the file came from the confirmed address
    assert len(server.behaviour.paths) == {"direct": 2, "form": 3, "link": 2, "cookie": 2}[flow]


@pytest.mark.parametrize("flow, said", [
    ("quota", "offers no download of the file: Google Drive - Quota exceeded: Quota exceeded for this file Downloaded "
              "too often"),
    ("deleted", "HTTP 404 Not Found: Google Drive - 404: No file has this id")])
def test_a_drive_page_without_the_file_is_an_error_naming_the_source_and_quoting_the_page(fake_drive, tmp_path, flow,
                                                                                          said):
    url = fake_drive.add("GONE", b"never served", flow)
    with pytest.raises(drive.DriveError, match=said) as err:
        drive.download(url, tmp_path / "f.pth", progress=False)
    assert str(err.value).startswith(f"{url}: Google Drive answered")
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a .part


def test_a_web_page_in_place_of_the_confirmed_file_is_an_error_and_nothing_is_written(fake_drive, tmp_path):
    url = fake_drive.add("LATE", b"never served", "quota-after-confirm")
    with pytest.raises(DownloadError, match="answered with a web page, not the file: Google Drive - Quota exceeded"):
        drive.download(url, tmp_path / "f.pth", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_drive_download_resumes_with_range_after_a_fresh_confirmation(server, fake_drive, tmp_path):
    content = payload_bytes(400_000)
    url = fake_drive.add("BIG", content, "form")
    server.behaviour.cut_after = 150_000
    with pytest.raises(DownloadError, match="received 150000 of 400000 bytes"):
        drive.download(url, tmp_path / "f.pth", progress=False)
    assert (tmp_path / "f.pth.part").stat().st_size == 150_000 and not (tmp_path / "f.pth").exists()
    first_uuid = server.behaviour.paths[-1].rsplit("uuid=", 1)[1]
    drive.download(url, tmp_path / "f.pth", progress=False)
    assert (tmp_path / "f.pth").read_bytes() == content
    assert server.behaviour.ranges[-1] == "bytes=150000-"  # only the rest was asked for
    assert server.behaviour.paths[-1].rsplit("uuid=", 1)[1] != first_uuid  # confirmed afresh


# ---- the zoo: sources in order, each verified against its own checksum -----------------------------------------


def test_sources_are_tried_in_order_and_each_file_is_checked_against_its_own_sources_md5(server, fake_drive, tmp_path,
                                                                                        tiny_net, capsys):
    good = tmp_path / "made" / "good.pth"
    good.parent.mkdir()
    torchfcn_file(good)
    content = good.read_bytes()
    md5 = hashlib.md5(content).hexdigest()
    entry = Weights(AT_ONCE, (
        Source(f"http://127.0.0.1:{closed_port()}/fcn8s-atonce-pascal.caffemodel"),
        Source(fake_drive.add("TAMPERED", content + b"x", "form"), "state_dict", {"md5": md5}, "mirror A",
               "tampered_from_caffe.pth"),
        Source(fake_drive.add("GOOD", content, "form"), "state_dict", {"md5": md5}, "mirror B", "good_from_caffe.pth"),
    ))
    h5 = zoo.fetch(entry, tmp_path / "w", progress=False, timeout=5)
    lines = capsys.readouterr().out.splitlines()
    tried = [line for line in lines if ": source " in line]
    assert tried[0].startswith(f"{AT_ONCE}: source 1/3, fcn8s-atonce-pascal.caffemodel (caffemodel): downloading")
    assert tried[1].startswith(f"{AT_ONCE}: source 1/3, fcn8s-atonce-pascal.caffemodel (caffemodel): failed: "
                               "cannot reach")
    assert tried[3] == (f"{AT_ONCE}: source 2/3, tampered_from_caffe.pth (torch state_dict with Caffe layer names "
                        f"(the kit's or torchfcn's)): failed: tampered_from_caffe.pth failed verification: md5 "
                        f"{hashlib.md5(content + b'x').hexdigest()}, expected {md5} (published by mirror A); the file "
                        "was removed (it was downloaded just now)")
    assert tried[4].startswith(f"{AT_ONCE}: source 3/3, good_from_caffe.pth") and len(tried) == 5
    assert "md5 verified" in "\n".join(lines)
    assert lines[-1].startswith(f"{AT_ONCE}: weights at {h5} (from source 3, {entry.sources[2].url})")
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["good_from_caffe.pth", f"{AT_ONCE}.h5"]


def test_a_torchfcn_mirror_converts_to_a_complete_h5_with_the_scale_blobs_from_the_nets_definition(
        fake_drive, tmp_path, tiny_net, capsys):
    made = tmp_path / "at-once.pth"
    params = torchfcn_file(made)
    md5 = hashlib.md5(made.read_bytes()).hexdigest()
    entry = Weights(AT_ONCE, (Source(fake_drive.add("ATONCE", made.read_bytes(), "form"), "state_dict",
                                     {"md5": md5}, "a test", "fcn8s-atonce_from_caffe.pth"),))
    h5 = zoo.fetch(entry, tmp_path / "w", progress=False)
    out = capsys.readouterr().out
    assert ("fcn8s-atonce_from_caffe.pth: a torch state_dict with Caffe layer names (the kit's or torchfcn's) stores "
            f"no Scale blobs; filled from {AT_ONCE}'s definition: scale_conv1 (4,) = 0.01") in out
    assert f"they are exactly the parameter layers of {AT_ONCE}" in out
    stored = read_h5(h5).blobs()
    assert sorted(stored) == ["conv1", "scale_conv1", "score"]
    assert np.array_equal(stored["scale_conv1"][0], np.full(4, 0.01, np.float32))
    for name, blobs in params.items():
        assert all(np.array_equal(a, b) for a, b in zip(stored[name], blobs, strict=True)), name
    # The .h5 is complete: a strict load fills every blob of the net, and prints nothing about filling.
    net = weights.load(CaffeNet(tiny_net), h5)
    assert capsys.readouterr().out == ""
    assert np.array_equal(net.scale_conv1.weight.numpy(), np.full(4, 0.01, np.float32))


def test_a_mirror_file_for_another_net_or_in_another_format_is_refused_and_the_next_source_used(
        server, fake_drive, tmp_path, tiny_net, capsys):
    other = tmp_path / "other.pth"  # the layers of a net with 5 outputs, not the tiny net's 2
    other_spec = NetSpec("x", {"data": 3}, (conv("conv1", "data", 4, 3, pad=1, param=TRAINED),
                                            conv("score", "conv1", 5, 1, param=TRAINED)), ("score",))
    torchfcn_file(other, spec=other_spec)
    caffemodel = tmp_path / "a.caffemodel"
    write_caffemodel(caffemodel, [("score", "Convolution", [np.zeros((2, 4, 1, 1), np.float32)])])
    good = tmp_path / "good.pth"
    torchfcn_file(good)
    entry = Weights(AT_ONCE, (
        Source(fake_drive.add("OTHER", other.read_bytes()), "state_dict", file="other_from_caffe.pth"),
        Source(fake_drive.add("CAFFE", caffemodel.read_bytes()), "state_dict", file="caffe_from_caffe.pth"),
        Source(fake_drive.add("GOOD", good.read_bytes()), "state_dict", file="good_from_caffe.pth"),
    ))
    zoo.fetch(entry, tmp_path / "w", progress=False)
    out = capsys.readouterr().out
    assert f"weights other_from_caffe.pth do not fit net {AT_ONCE}" in out
    assert "score blob 0 (weight): net expects (2, 4, 1, 1), file has (5, 4, 1, 1)" in out
    assert ("caffe_from_caffe.pth: expected torch state_dict with Caffe layer names (the kit's or torchfcn's) "
            "(a torch.save file), found a caffemodel (or no weights file at all)") in out
    assert "(from source 3," in out
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["good_from_caffe.pth", f"{AT_ONCE}.h5"]


def test_a_hand_placed_mirror_file_that_fails_its_md5_is_moved_aside_and_the_message_names_every_source(
        tmp_path, tiny_net, monkeypatch):
    """Offline: nothing answers; the user's own copy of a Drive file is kept, set aside, never taken for good."""
    port = closed_port()
    monkeypatch.setattr(drive, "DRIVE_HOSTS", {f"127.0.0.1:{port}"})
    where = tmp_path / "w"
    where.mkdir()
    (where / "fcn8s-atonce_from_caffe.pth").write_bytes(b"not the published file")
    entry = Weights(AT_ONCE, (
        Source(f"http://127.0.0.1:{port}/fcn8s-atonce-pascal.caffemodel"),
        Source(f"http://127.0.0.1:{port}/uc?id=ATONCE", "state_dict", {"md5": "bfed4437e941fef58932891217fe6464"},
               "torchfcn", "fcn8s-atonce_from_caffe.pth"),
    ))
    with pytest.raises(zoo.ZooError) as err:
        zoo.fetch(entry, where, progress=False, timeout=5)
    text = str(err.value)
    assert f"could not get {AT_ONCE} from any of its 2 source(s)" in text
    assert f"cannot reach http://127.0.0.1:{port}/fcn8s-atonce-pascal.caffemodel" in text
    assert "expected bfed4437e941fef58932891217fe6464 (published by torchfcn)" in text
    assert f"moved aside to {where / 'fcn8s-atonce_from_caffe.pth.rejected'}" in text
    assert f"put it at {where / 'fcn8s-atonce-pascal.caffemodel'}" in text
    assert (f"http://127.0.0.1:{port}/uc?id=ATONCE (in a browser: Drive asks to confirm a large file)\n"
            f"      -> put it at {where / 'fcn8s-atonce_from_caffe.pth'}; checked against md5 (torchfcn)") in text
    assert (where / "fcn8s-atonce_from_caffe.pth.rejected").read_bytes() == b"not the published file"
    assert not (where / f"{AT_ONCE}.h5").exists()


def test_a_web_page_from_a_plain_server_is_an_error_quoting_it_and_nothing_is_written(server, tmp_path):
    from http_server import Reply

    server.behaviour.routes["/fcn-tiny.caffemodel"] = lambda request: Reply(
        200, b"<html><head><title>Parked</title></head><body>This domain is for sale</body></html>",
        [("Content-Type", "text/html")])
    entry = Weights("fcn-tiny", (Source(server.url("/fcn-tiny.caffemodel")),))
    with pytest.raises(zoo.ZooError, match="answered with a web page, not the file: Parked: This domain is for sale"):
        zoo.fetch(entry, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


# ---- sources of the user's own ----------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256"])
def test_a_user_source_with_each_hash_kind_is_tried_first_and_verified(server, tmp_path, tiny_net, algorithm, capsys):
    made = tmp_path / "lab.pth"
    torchfcn_file(made)
    server.behaviour.files["/lab/fcn8s-atonce.pth"] = made.read_bytes()
    digest = hashlib.new(algorithm, made.read_bytes()).hexdigest()
    entry = Weights(AT_ONCE, (Source(server.url("/reference/never-asked.caffemodel")),))
    mine = zoo.user_source(f"{server.url('/lab/fcn8s-atonce.pth')}#{algorithm}={digest.upper()}")
    assert (mine.filename, dict(mine.checksums), mine.checksums_by) == ("fcn8s-atonce.pth", {algorithm: digest},
                                                                       zoo.USER)
    h5 = zoo.fetch(entry, tmp_path / "w", progress=False, extra_sources=[mine])
    out = capsys.readouterr().out
    assert f"{algorithm} verified" in out and f"(from source 1, {mine.url})" in out
    assert server.behaviour.paths == ["/lab/fcn8s-atonce.pth"]  # the entry's own source was never asked
    assert h5.is_file()


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256"])
def test_a_user_source_failing_its_hash_is_removed_and_the_entrys_sources_follow(server, tmp_path, tiny_net,
                                                                                 algorithm, capsys):
    made = tmp_path / "lab.pth"
    torchfcn_file(made)
    server.behaviour.files["/lab/fcn8s-atonce.pth"] = made.read_bytes() + b"!"
    server.behaviour.files["/reference/fcn8s-atonce.pth"] = made.read_bytes()
    wrong = hashlib.new(algorithm, made.read_bytes()).hexdigest()
    mine = zoo.user_source(f"{server.url('/lab/fcn8s-atonce.pth')}#{algorithm}={wrong}&file=lab-copy.pth")
    entry = Weights(AT_ONCE, (Source(server.url("/reference/fcn8s-atonce.pth"), "state_dict"),))
    zoo.fetch(entry, tmp_path / "w", progress=False, extra_sources=[mine])
    out = capsys.readouterr().out
    assert f"lab-copy.pth failed verification: {algorithm} " in out and f"expected {wrong} (published by you" in out
    assert "(from source 2," in out and not (tmp_path / "w" / "lab-copy.pth").exists()


@pytest.mark.parametrize("text, said", [
    ("ftp://lab/x.caffemodel", "expected an http:// or https:// URL"),
    ("http://lab/x.caffemodel#md5=abc", "md5= takes 32 hex digits, got 'abc' (3 characters)"),
    (f"http://lab/x.caffemodel#sha1={'g' * 40}", "sha1= takes 40 hex digits"),
    ("http://lab/x.caffemodel#crc=12", "unknown key 'crc' after '#'; the keys are md5, sha1, sha256 and file"),
    ("http://lab/models/", "the URL's path names no file; add &file=NAME"),
    ("http://lab/x#file=../../etc/passwd", "file= takes a plain file name"),
    ("http://lab/x#file=.hidden", "file= takes a plain file name"),
])
def test_a_bad_user_source_is_a_clear_error_before_anything_is_fetched(text, said):
    with pytest.raises(zoo.BadSource, match=said.replace("(", r"\(").replace(")", r"\)")):
        zoo.user_source(text)


def test_a_user_source_on_drive_is_named_after_its_file_id_unless_told():
    assert zoo.user_source(f"{DRIVE}ABC").filename == "drive-ABC"
    assert zoo.user_source(f"{DRIVE}ABC#file=mine.pth").filename == "mine.pth"
    assert zoo.user_source("https://lab.example/w/fcn%208s.caffemodel").filename == "fcn 8s.caffemodel"
    assert zoo.user_source("https://lab.example/w/x.caffemodel").checksums_by == ""  # nothing to verify


def test_command_line_sources_are_tried_first_in_order(server, tmp_path, tiny_net, monkeypatch, capsys):
    made = tmp_path / "lab.pth"
    torchfcn_file(made)
    server.behaviour.files["/b/fcn8s-atonce.pth"] = made.read_bytes()
    monkeypatch.setenv(zoo.ENV_VAR, str(tmp_path / "w"))
    manifest = {AT_ONCE: Weights(AT_ONCE, (Source(server.url("/never-asked.caffemodel")),))}
    md5 = hashlib.md5(made.read_bytes()).hexdigest()
    argv = ["fetch", AT_ONCE, "--source", server.url("/a/missing.pth"),
            "--source", f"{server.url('/b/fcn8s-atonce.pth')}#md5={md5}"]
    assert zoo.main(argv, manifest=manifest) == 0
    assert server.behaviour.paths == ["/a/missing.pth", "/b/fcn8s-atonce.pth"]
    assert "(from source 2," in capsys.readouterr().out
    assert zoo.main(["fetch", AT_ONCE, "--source", "http://lab/x#md5=1"], manifest=manifest) == 1
    assert "md5= takes 32 hex digits" in capsys.readouterr().err


def test_make_weights_passes_each_source_through_quoted(tmp_path):
    stamp = tmp_path / "installed"
    stamp.touch()
    run = ["make", "--no-print-directory", "weights", f"STAMP={stamp}", f"PY={sys.executable}", f"NET={AT_ONCE}"]
    sources = "http://lab/a.pth#md5=00&file=a.pth http://lab/b.caffemodel"
    shown = subprocess.run([*run, "-n", f"SOURCE={sources}"], cwd=REPO, capture_output=True, text=True, timeout=60)
    # The value reaches the zoo through the environment (no shell reads it); the zoo splits it into sources.
    assert shown.stdout.strip().endswith('-m weights.zoo fetch "$FCN_MAKE_NET" --sources="$FCN_MAKE_SOURCE"')
    # Run for real, with a source refused before any network: the zoo read it, '#' and '&' intact.
    done = subprocess.run([*run, "SOURCE=ftp://lab/a.pth#md5=00&file=a.pth http://lab/b.caffemodel"], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "FCN_WEIGHTS": str(tmp_path / "w")})
    assert done.returncode == 2 and \
        "--source 'ftp://lab/a.pth#md5=00&file=a.pth': expected an http:// or https:// URL" in done.stderr

"""The model zoo: manifest facts, and the downloader against a local HTTP server on 127.0.0.1 (Range resume,
interrupted transfers, servers that ignore Range, hash mismatch, no network). Never the real internet."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import numpy as np
import pytest
from http_server import LocalServer

import nets
from nets.registry import Source, Weights
from weights import zoo
from weights.caffemodel import write_caffemodel
from weights.h5 import read_h5


@pytest.fixture
def server():
    with LocalServer() as s:
        yield s


@pytest.fixture(scope="module")
def payload(tmp_path_factory) -> bytes:
    """A real (small) caffemodel, some 400 kB so that it arrives in several chunks."""
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("payload") / "fcn-tiny.caffemodel"
    write_caffemodel(path, [("conv1_1", "Convolution", [rng.standard_normal((64, 3, 3, 3), dtype=np.float32),
                                                        rng.standard_normal(64, dtype=np.float32)]),
                            ("fc6", "InnerProduct", [rng.standard_normal((100, 1000), dtype=np.float32)])])
    return path.read_bytes()


def entry_for(server: LocalServer, payload: bytes, checksums: dict[str, str] | None = None,
              by: str = "a test") -> Weights:
    server.behaviour.files["/models/fcn-tiny.caffemodel"] = payload
    return Weights("fcn-tiny", (Source(server.url("/models/fcn-tiny.caffemodel"), checksums=checksums or {},
                                       checksums_by=by),))


def fetch(entry, folder, chunk=1 << 16, **kw):
    """zoo.fetch with small chunks so that transfers take several reads."""
    original = zoo.download

    def small_chunks(url, dest, **args):
        return original(url, dest, chunk=chunk, **args)

    zoo.download = small_chunks
    try:
        return zoo.fetch(entry, folder, progress=False, **kw)
    finally:
        zoo.download = original


# ---- fetching: sources in order, verification, conversion, never losing a user's file ------------------------


def test_fetch_downloads_verifies_converts_and_says_where_from(server, payload, tmp_path, capsys):
    digest = hashlib.sha256(payload).hexdigest()
    entry = entry_for(server, payload, {"sha256": digest})
    h5 = fetch(entry, tmp_path)
    out = capsys.readouterr().out
    assert h5 == tmp_path / "fcn-tiny.h5"
    assert (tmp_path / "fcn-tiny.caffemodel").read_bytes() == payload
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*tmp"))
    assert f"sha256 {digest}  fcn-tiny.caffemodel (sha256 verified)" in out
    assert f"weights at {h5} (from source 1, {entry.sources[0].url})" in out
    assert {x.name: x.shapes for x in read_h5(h5).layers} == {"conv1_1": ((64, 3, 3, 3), (64,)),
                                                               "fc6": ((100, 1000),)}


def test_fetch_prints_the_sha256_it_computed_when_nothing_is_published(server, payload, tmp_path, capsys):
    fetch(entry_for(server, payload), tmp_path)
    assert f"sha256 {hashlib.sha256(payload).hexdigest()}  fcn-tiny.caffemodel (no published hash to check)" \
        in capsys.readouterr().out


def test_an_interrupted_transfer_keeps_its_part_and_the_next_fetch_resumes(server, payload, tmp_path):
    entry = entry_for(server, payload, {"sha1": hashlib.sha1(payload).hexdigest()})
    server.behaviour.cut_after = 200_000
    with pytest.raises(zoo.ZooError, match=f"received 200000 of {len(payload)} bytes.*run the same command again"):
        fetch(entry, tmp_path)
    assert (tmp_path / "fcn-tiny.caffemodel.part").stat().st_size == 200_000
    assert not (tmp_path / "fcn-tiny.caffemodel").exists() and not (tmp_path / "fcn-tiny.h5").exists()
    fetch(entry, tmp_path)
    assert server.behaviour.ranges == [None, "bytes=200000-"]
    assert (tmp_path / "fcn-tiny.caffemodel").read_bytes() == payload


def test_sources_are_tried_in_order_one_line_each_until_one_gives_a_verified_file(server, payload, tmp_path,
                                                                                  capsys):
    good = hashlib.md5(payload).hexdigest()
    server.behaviour.files["/mirror/fcn-tiny-mirror.caffemodel"] = payload
    server.behaviour.files["/bad/fcn-tiny-bad.caffemodel"] = payload + b"tampered"
    entry = Weights("fcn-tiny", (Source(server.url("/gone/fcn-tiny.caffemodel")),
                                 Source(server.url("/bad/fcn-tiny-bad.caffemodel"), checksums={"md5": good},
                                        checksums_by="the mirror"),
                                 Source(server.url("/mirror/fcn-tiny-mirror.caffemodel"), checksums={"md5": good},
                                        checksums_by="the mirror")))
    h5 = fetch(entry, tmp_path)
    out = capsys.readouterr().out
    assert "gone/fcn-tiny.caffemodel: " in out and "404" in out
    assert f"md5 {hashlib.md5(payload + b'tampered').hexdigest()}, expected {good} (published by the mirror)" in out
    assert "removed (it was downloaded just now)" in out and not (tmp_path / "fcn-tiny-bad.caffemodel").exists()
    assert f"(from source 3, {entry.sources[2].url})" in out and h5.is_file()


def test_a_hand_placed_file_that_fails_its_checksum_is_moved_aside_never_deleted(payload, tmp_path, capsys):
    """Offline, the user's own copy is all they have: it is kept, renamed so that no fetch takes it for good."""
    mine = tmp_path / "fcn-tiny.caffemodel"
    mine.write_bytes(payload)
    entry = Weights("fcn-tiny", (Source("http://127.0.0.1:9/fcn-tiny.caffemodel",
                                        checksums={"sha1": "c449ea74dd7d83751d1357d6a8c323fcf4038962"},
                                        checksums_by="a list"),))
    with pytest.raises(zoo.ZooError) as err:
        zoo.fetch(entry, tmp_path, progress=False)
    aside = tmp_path / "fcn-tiny.caffemodel.rejected"
    assert aside.read_bytes() == payload and not mine.exists() and not (tmp_path / "fcn-tiny.h5").exists()
    assert f"moved aside to {aside}" in str(err.value) and "published by a list" in str(err.value)
    mine.write_bytes(payload)  # a second bad copy does not overwrite the first one set aside
    with pytest.raises(zoo.ZooError):
        zoo.fetch(entry, tmp_path, progress=False)
    assert (tmp_path / "fcn-tiny.caffemodel.rejected-2").read_bytes() == payload and aside.read_bytes() == payload


def test_a_file_made_for_another_net_is_refused_before_it_is_installed(tmp_path, capsys):
    """voc-fcn8s's name on a file with voc-fcn32s's layers: the strict check of the net refuses it."""
    params = {layer: [np.zeros(s, np.float32) for s in shapes]
              for layer, shapes in nets.spec("voc-fcn32s").param_shapes().items() if layer.startswith("score")}
    entry = zoo.MANIFEST["voc-fcn8s"]
    path = tmp_path / entry.sources[0].filename
    write_caffemodel(path, [(k, "Convolution", v) for k, v in params.items()])
    local = Weights(entry.name, (Source("http://127.0.0.1:9/" + path.name),))
    with pytest.raises(zoo.ZooError, match="do not fit net voc-fcn8s"):
        zoo.fetch(local, tmp_path, progress=False)
    assert not (tmp_path / "voc-fcn8s.h5").exists() and (tmp_path / (path.name + ".rejected")).exists()


def test_no_network_is_an_error_naming_every_source_and_where_to_put_a_file_by_hand(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    entry = Weights("fcn-tiny", (Source(f"http://127.0.0.1:{port}/fcn-tiny.caffemodel"),
                                 Source(f"http://127.0.0.1:{port}/mirror/fcn-tiny-copy.caffemodel")))
    with pytest.raises(zoo.ZooError) as err:
        zoo.fetch(entry, tmp_path, progress=False, timeout=5)
    text = str(err.value)
    assert "could not get fcn-tiny from any of its 2 source(s)" in text
    for name in ("fcn-tiny.caffemodel", "fcn-tiny-copy.caffemodel"):
        assert f"cannot reach http://127.0.0.1:{port}/" in text and f"put it at {tmp_path / name}" in text
    assert "make weights NET=fcn-tiny" in text and not (tmp_path / "fcn-tiny.h5").exists()


def test_a_file_put_there_by_hand_is_verified_and_converted_without_downloading(payload, tmp_path, capsys):
    (tmp_path / "fcn-tiny.caffemodel").write_bytes(payload)
    entry = Weights("fcn-tiny", (Source("http://127.0.0.1:9/fcn-tiny.caffemodel"),))  # never asked
    assert zoo.fetch(entry, tmp_path, progress=False) == tmp_path / "fcn-tiny.h5"
    assert "using" in capsys.readouterr().out


def test_a_downloaded_file_that_is_not_a_caffemodel_is_a_clear_error(server, tmp_path):
    entry = entry_for(server, b"<html>moved</html>")
    with pytest.raises(zoo.ZooError, match="(?s)not a caffemodel.*removed.*by hand"):
        fetch(entry, tmp_path)
    assert not (tmp_path / "fcn-tiny.h5").exists()


def test_command_line_fetch_and_list_use_the_weights_folder_variable(server, payload, tmp_path, monkeypatch,
                                                                       capsys):
    monkeypatch.setenv(zoo.ENV_VAR, str(tmp_path / "w"))
    server.behaviour.files["/models/other.caffemodel"] = payload
    manifest = {"fcn-tiny": entry_for(server, payload),
                "other": Weights("other", (Source(server.url("/models/other.caffemodel")),))}
    assert zoo.main(["list"], manifest=manifest) == 0
    listing = capsys.readouterr().out
    assert f"weights folder: {tmp_path / 'w'}" in listing
    assert zoo.main(["fetch", "fcn-tiny"], manifest=manifest) == 0
    assert (tmp_path / "w" / "fcn-tiny.h5").exists()
    capsys.readouterr()
    assert zoo.main(["list"], manifest=manifest) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:] if not line.startswith(" ")}
    assert rows["fcn-tiny"].endswith("present: converted)") and rows["other"].endswith("present: -)")
    assert zoo.main(["fetch", "nope"], manifest=manifest) == 1
    assert "no weights named 'nope'" in capsys.readouterr().err


# ---- the manifest ------------------------------------------------------------------------------------------


def test_every_released_net_has_an_entry_and_the_unreleased_explain_why_not():
    released = {name for name in zoo.MANIFEST if name in nets.NAMES}
    assert released == set(nets.NAMES) - {"nyud-fcn32s-color-d", "voc-fcn-googlenet", "nyud-fcn16s-color-hha"}
    assert all(zoo.MANIFEST[n].name == n for n in zoo.MANIFEST)
    with pytest.raises(zoo.ZooError, match="no caffemodel for nyud-fcn32s-color-d.*weights.transplant"):
        zoo.entry_for("nyud-fcn32s-color-d")
    with pytest.raises(zoo.ZooError, match="never released.*BVLC GoogLeNet.*make weights NET=googlenet.*"
                                           "--net voc-fcn-googlenet"):
        zoo.entry_for("voc-fcn-googlenet")
    with pytest.raises(zoo.ZooError, match="FCN-16s RGB-HHA.*never released.*make weights NET=nyud-fcn32s-color-hha.*"
                                           "--net nyud-fcn16s-color-hha"):
        zoo.entry_for("nyud-fcn16s-color-hha")


def test_manifest_files_are_the_reference_downloads():
    files = {n: e.sources[0].url for n, e in zoo.MANIFEST.items()}
    assert files["voc-fcn8s"] == "http://dl.caffe.berkeleyvision.org/fcn8s-heavy-pascal.caffemodel"
    assert files["voc-fcn8s-atonce"].endswith("/fcn8s-atonce-pascal.caffemodel")
    assert files["voc-fcn-alexnet"].endswith("/fcn-alexnet-pascal.caffemodel")
    assert files["nyud-fcn32s-color-hha"].endswith("/nyud-fcn32s-color-hha-heavy.caffemodel")
    assert files["siftflow-fcn16s"].endswith("/siftflow-fcn16s-heavy.caffemodel")
    assert files["pascalcontext-fcn8s"].endswith("/pascalcontext-fcn8s-heavy.caffemodel")
    assert files["vgg16"].endswith("/VGG_ILSVRC_16_layers.caffemodel")
    assert files["caffenet"] == "http://dl.caffe.berkeleyvision.org/bvlc_reference_caffenet.caffemodel"
    assert files["googlenet"] == "http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel"
    assert set(zoo.MANIFEST) - set(nets.NAMES) == {"vgg16", "caffenet", "googlenet"}


def test_the_known_hashes_are_opencvs_sha1_of_fcn8s_heavy_pascal_and_bvlcs_of_googlenet():
    known = {n: dict(e.sources[0].checksums) for n, e in zoo.MANIFEST.items() if e.sources[0].checksums}
    assert known["voc-fcn8s"]["sha1"] == "c449ea74dd7d83751d1357d6a8c323fcf4038962"
    assert known["googlenet"]["sha1"] == "405fc5acd08a3bb12de8ee5e23a96bec22f08204"
    # the reference's caffemodels with a third party's checksum, and the three ILSVRC nets; no other
    assert set(known) == {"voc-fcn32s", "voc-fcn8s", "vgg16", "caffenet", "googlenet"}
    assert "OpenCV" in zoo.MANIFEST["voc-fcn8s"].sources[0].checksums_by
    assert "BVLC" in zoo.MANIFEST["googlenet"].sources[0].checksums_by
    assert zoo.verifiable(zoo.MANIFEST["voc-fcn16s"].sources[0]) == "unknown"


def test_weights_folder_comes_from_one_variable_with_a_default_outside_the_code(monkeypatch):
    monkeypatch.delenv(zoo.ENV_VAR, raising=False)
    assert zoo.folder() == Path.home() / ".cache" / "fcn-kit" / "weights"
    monkeypatch.setenv(zoo.ENV_VAR, "/somewhere/else")
    assert zoo.folder() == Path("/somewhere/else")
    assert zoo.h5_path("voc-fcn8s") == Path("/somewhere/else/voc-fcn8s.h5")


@pytest.mark.parametrize("bad", ["cut", "another net's"])
def test_a_present_h5_that_the_loader_would_refuse_is_set_aside_not_called_converted(tmp_path, bad, capsys):
    """voc-fcn8s.h5 cut to its first 1000 bytes, or a tiny net's weights under that name: checked as the loader
    reads it, moved aside to .rejected (never deleted), and the weights fetched again (here from nowhere)."""
    import weights
    from tiny_nets import scoring_net

    h5 = tmp_path / "voc-fcn8s.h5"
    weights.save(scoring_net(), h5)
    if bad == "cut":
        h5.write_bytes(h5.read_bytes()[:1000])
    original = h5.read_bytes()
    local = Weights("voc-fcn8s", (Source("http://127.0.0.1:9/fcn8s-heavy-pascal.caffemodel"),))
    lines: list[str] = []
    with pytest.raises(zoo.ZooError, match="could not get voc-fcn8s"):
        zoo.fetch(local, tmp_path, progress=False, timeout=5, log=lines.append)
    said = "is cut" if bad == "cut" else "do not fit net voc-fcn8s"
    assert lines[0].startswith(f"voc-fcn8s: {h5} is there but is not voc-fcn8s's weights: ") and said in lines[0]
    assert lines[0].endswith(f"it was moved aside to {h5}.rejected, and the weights are fetched again")
    assert not h5.exists() and (tmp_path / "voc-fcn8s.h5.rejected").read_bytes() == original


def test_a_present_h5_that_loads_is_already_converted(payload, tmp_path):
    entry = Weights("fcn-tiny", (Source("http://127.0.0.1:9/fcn-tiny.caffemodel"),))
    (tmp_path / "fcn-tiny.caffemodel").write_bytes(payload)
    lines: list[str] = []
    zoo.fetch(entry, tmp_path, progress=False, log=lines.append)
    again: list[str] = []
    assert zoo.fetch(entry, tmp_path, progress=False, log=again.append) == tmp_path / "fcn-tiny.h5"
    assert again == [f"fcn-tiny: already converted at {tmp_path / 'fcn-tiny.h5'} (checked: complete, fcn-tiny's "
                     "layers, finite)"]

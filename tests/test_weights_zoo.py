"""The model zoo: manifest facts, and the downloader against a local HTTP server on 127.0.0.1 (Range resume,
interrupted transfers, servers that ignore Range, hash mismatch, no network). Never the real internet."""

from __future__ import annotations

import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import nets
from weights import zoo
from weights.caffemodel import write_caffemodel
from weights.snapshot import read_h5


class Server:
    """A threaded HTTP server on 127.0.0.1 serving ``files`` (path -> bytes), with Range support that can be
    switched off, and a cut-off that closes the connection after that many body bytes."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.ranges: list[str | None] = []
        self.honour_range = True
        self.cut_after: int | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                wanted = self.headers.get("Range")
                server.ranges.append(wanted)
                start = 0
                if wanted and server.honour_range:
                    start = int(wanted.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                part = body[start:]
                self.send_header("Content-Length", str(len(part)))
                self.end_headers()
                if server.cut_after is not None:
                    part = part[:server.cut_after]
                self.wfile.write(part)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(scope="module")
def payload(tmp_path_factory) -> bytes:
    """A real (small) caffemodel, some 400 kB so that it arrives in several chunks."""
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("payload") / "fcn-tiny.caffemodel"
    write_caffemodel(path, [("conv1_1", "Convolution", [rng.standard_normal((64, 3, 3, 3), dtype=np.float32),
                                                        rng.standard_normal(64, dtype=np.float32)]),
                            ("fc6", "InnerProduct", [rng.standard_normal((100, 1000), dtype=np.float32)])])
    return path.read_bytes()


def entry_for(server: Server, payload: bytes, **kw) -> zoo.ZooEntry:
    server.files["/models/fcn-tiny.caffemodel"] = payload
    return zoo.ZooEntry("fcn-tiny", server.url("/models/fcn-tiny.caffemodel"), None, None, **kw)


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


# ---- downloading -------------------------------------------------------------------------------------------


def test_fetch_downloads_verifies_converts_and_says_where(server, payload, tmp_path, capsys):
    digest = hashlib.sha256(payload).hexdigest()
    entry = entry_for(server, payload, sha256=digest, size=len(payload))
    h5 = fetch(entry, tmp_path)
    out = capsys.readouterr().out
    assert h5 == tmp_path / "fcn-tiny.h5"
    assert (tmp_path / "fcn-tiny.caffemodel").read_bytes() == payload
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*tmp"))
    assert f"sha256 {digest}  fcn-tiny.caffemodel (size, sha256 verified)" in out
    assert f"weights at {h5}" in out
    assert {x.name: x.shapes for x in read_h5(h5).layers} == {"conv1_1": ((64, 3, 3, 3), (64,)),
                                                               "fc6": ((100, 1000),)}
    assert server.ranges == [None]


def test_fetch_prints_the_sha256_it_computed_when_nothing_is_published(server, payload, tmp_path, capsys):
    fetch(entry_for(server, payload), tmp_path)
    assert f"sha256 {hashlib.sha256(payload).hexdigest()}  fcn-tiny.caffemodel (no published hash to check)" \
        in capsys.readouterr().out


def test_a_partial_file_is_resumed_with_a_range_request(server, payload, tmp_path):
    entry = entry_for(server, payload, sha1=hashlib.sha1(payload).hexdigest(), hash_source="test")
    (tmp_path / "fcn-tiny.caffemodel.part").write_bytes(payload[:123_457])
    fetch(entry, tmp_path)
    assert server.ranges == ["bytes=123457-"]
    assert (tmp_path / "fcn-tiny.caffemodel").read_bytes() == payload


def test_an_interrupted_transfer_keeps_its_part_and_the_next_fetch_resumes(server, payload, tmp_path):
    entry = entry_for(server, payload, sha256=hashlib.sha256(payload).hexdigest())
    server.cut_after = 200_000
    with pytest.raises(zoo.ZooError, match=f"at 200000 of {len(payload)} bytes; run the command again"):
        fetch(entry, tmp_path)
    assert (tmp_path / "fcn-tiny.caffemodel.part").stat().st_size == 200_000
    assert not (tmp_path / "fcn-tiny.caffemodel").exists() and not (tmp_path / "fcn-tiny.h5").exists()
    server.cut_after = None
    fetch(entry, tmp_path)
    assert server.ranges == [None, "bytes=200000-"]
    assert (tmp_path / "fcn-tiny.caffemodel").read_bytes() == payload


def test_a_server_that_ignores_range_makes_the_download_start_over(server, payload, tmp_path):
    server.honour_range = False
    (tmp_path / "fcn-tiny.caffemodel.part").write_bytes(b"stale bytes from another file")
    fetch(entry_for(server, payload, sha256=hashlib.sha256(payload).hexdigest()), tmp_path)
    assert (tmp_path / "fcn-tiny.caffemodel").read_bytes() == payload


def test_a_complete_part_file_is_accepted_on_a_416_answer(server, payload, tmp_path):
    (tmp_path / "fcn-tiny.caffemodel.part").write_bytes(payload)
    fetch(entry_for(server, payload, sha256=hashlib.sha256(payload).hexdigest()), tmp_path)
    assert server.ranges == [f"bytes={len(payload)}-"]
    assert (tmp_path / "fcn-tiny.h5").exists()


def test_a_hash_mismatch_is_an_error_and_leaves_neither_caffemodel_nor_h5(server, payload, tmp_path):
    entry = entry_for(server, payload, sha1="c449ea74dd7d83751d1357d6a8c323fcf4038962", hash_source="a list")
    with pytest.raises(zoo.ZooError) as err:
        fetch(entry, tmp_path)
    text = str(err.value)
    got = hashlib.sha1(payload).hexdigest()
    assert f"sha1 {got}, expected c449ea74dd7d83751d1357d6a8c323fcf4038962" in text
    assert "published by a list" in text and "removed" in text
    assert list(tmp_path.iterdir()) == []


def test_no_network_is_an_error_naming_the_url_and_the_manual_steps(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    entry = zoo.ZooEntry("fcn-tiny", f"http://127.0.0.1:{port}/fcn-tiny.caffemodel", None, None)
    with pytest.raises(zoo.ZooError) as err:
        zoo.fetch(entry, tmp_path, progress=False, timeout=5)
    text = str(err.value)
    assert f"could not download http://127.0.0.1:{port}/fcn-tiny.caffemodel" in text
    assert f"put it at {tmp_path / 'fcn-tiny.caffemodel'}" in text
    assert f"python -m weights.convert {tmp_path / 'fcn-tiny.caffemodel'} {tmp_path / 'fcn-tiny.h5'}" in text
    assert not (tmp_path / "fcn-tiny.h5").exists()


def test_a_missing_file_on_the_server_is_the_same_clear_error(server, tmp_path):
    entry = zoo.ZooEntry("gone", server.url("/nothing.caffemodel"), None, None)
    with pytest.raises(zoo.ZooError, match=r"could not download .*/nothing.caffemodel: .*Not Found.*by hand"):
        zoo.fetch(entry, tmp_path, progress=False)


def test_a_file_put_there_by_hand_is_verified_and_converted_without_downloading(payload, tmp_path, capsys):
    (tmp_path / "fcn-tiny.caffemodel").write_bytes(payload)
    entry = zoo.ZooEntry("fcn-tiny", "http://127.0.0.1:9/fcn-tiny.caffemodel", None, None)  # never asked
    assert zoo.fetch(entry, tmp_path, progress=False) == tmp_path / "fcn-tiny.h5"
    assert "using" in capsys.readouterr().out


def test_a_downloaded_file_that_is_not_a_caffemodel_is_a_clear_error(server, tmp_path):
    entry = entry_for(server, b"<html>moved</html>")
    with pytest.raises(zoo.ZooError, match="not a usable caffemodel.*not a caffemodel.*by hand"):
        fetch(entry, tmp_path)
    assert not (tmp_path / "fcn-tiny.h5").exists()


def test_command_line_fetch_and_list_use_the_weights_folder_variable(server, payload, tmp_path, monkeypatch,
                                                                       capsys):
    monkeypatch.setenv(zoo.ENV_VAR, str(tmp_path / "w"))
    server.files["/models/other.caffemodel"] = payload
    manifest = {"fcn-tiny": entry_for(server, payload),
                "other": zoo.ZooEntry("other", server.url("/models/other.caffemodel"), None, None)}
    assert zoo.main(["list"], manifest=manifest) == 0
    listing = capsys.readouterr().out
    assert f"weights folder: {tmp_path / 'w'}" in listing
    assert zoo.main(["fetch", "fcn-tiny"], manifest=manifest) == 0
    assert (tmp_path / "w" / "fcn-tiny.h5").exists()
    capsys.readouterr()
    assert zoo.main(["list"], manifest=manifest) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["fcn-tiny"].endswith("converted") and rows["other"].endswith("-")
    assert zoo.main(["fetch", "nope"], manifest=manifest) == 1
    assert "no weights named 'nope'" in capsys.readouterr().err


# ---- the manifest ------------------------------------------------------------------------------------------


def test_every_released_net_has_an_entry_and_color_d_explains_why_not():
    released = {e.net for e in zoo.MANIFEST.values() if e.net}
    assert released == set(nets.NAMES) - {"nyud-fcn32s-color-d"}
    assert all(zoo.MANIFEST[n].net == n for n in released)
    with pytest.raises(zoo.ZooError, match="no caffemodel for nyud-fcn32s-color-d.*weights.transplant"):
        zoo.entry_for("nyud-fcn32s-color-d")


def test_manifest_files_are_the_reference_downloads():
    files = {n: e.url for n, e in zoo.MANIFEST.items()}
    assert files["voc-fcn8s"] == "http://dl.caffe.berkeleyvision.org/fcn8s-heavy-pascal.caffemodel"
    assert files["voc-fcn8s-atonce"].endswith("/fcn8s-atonce-pascal.caffemodel")
    assert files["voc-fcn-alexnet"].endswith("/fcn-alexnet-pascal.caffemodel")
    assert files["nyud-fcn32s-color-hha"].endswith("/nyud-fcn32s-color-hha-heavy.caffemodel")
    assert files["siftflow-fcn16s"].endswith("/siftflow-fcn16s-heavy.caffemodel")
    assert files["pascalcontext-fcn8s"].endswith("/pascalcontext-fcn8s-heavy.caffemodel")
    assert files["vgg16"].endswith("/VGG_ILSVRC_16_layers.caffemodel")
    assert files["caffenet"] == "http://dl.caffe.berkeleyvision.org/bvlc_reference_caffenet.caffemodel"
    assert files["googlenet"] == "http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel"
    assert {n for n, e in zoo.MANIFEST.items() if e.net is None} == {"vgg16", "caffenet", "googlenet"}


def test_the_known_hashes_are_opencvs_sha1_of_fcn8s_heavy_pascal_and_bvlcs_of_googlenet():
    known = {n: (e.sha1, e.sha256, e.size) for n, e in zoo.MANIFEST.items() if e.sha1 or e.sha256 or e.size}
    assert known == {"voc-fcn8s": ("c449ea74dd7d83751d1357d6a8c323fcf4038962", None, None),
                     "googlenet": ("405fc5acd08a3bb12de8ee5e23a96bec22f08204", None, None)}
    assert "OpenCV" in zoo.MANIFEST["voc-fcn8s"].hash_source
    assert "BVLC" in zoo.MANIFEST["googlenet"].hash_source
    assert zoo.MANIFEST["voc-fcn32s"].known == "unknown"


def test_fcn_googlenet_is_unreleased_and_says_how_to_start_it_from_bvlc_googlenet():
    with pytest.raises(zoo.ZooError, match="never released.*fetch googlenet.*--net voc-fcn-googlenet"):
        zoo.entry_for("voc-fcn-googlenet")


def test_means_travel_with_the_weights_of_each_input_blob():
    assert zoo.MANIFEST["voc-fcn8s"].mean == {"data": (104.00699, 116.66877, 122.67892)}
    assert zoo.MANIFEST["nyud-fcn32s-hha"].mean == {"data": (132.431, 94.076, 118.477)}
    assert zoo.MANIFEST["nyud-fcn32s-color-hha"].mean == {"color": (116.190, 97.203, 92.318),
                                                         "hha": (132.431, 94.076, 118.477)}
    assert zoo.MANIFEST["siftflow-fcn32s"].mean == {"data": (114.578, 115.294, 108.353)}
    for e in zoo.MANIFEST.values():
        if e.net:
            assert set(e.mean) == set(nets.spec(e.net).inputs), e.name


def test_weights_folder_comes_from_one_variable_with_a_default_outside_the_code(monkeypatch):
    monkeypatch.delenv(zoo.ENV_VAR, raising=False)
    assert zoo.folder() == Path.home() / ".cache" / "fcn-kit" / "weights"
    monkeypatch.setenv(zoo.ENV_VAR, "/somewhere/else")
    assert zoo.folder() == Path("/somewhere/else")
    assert zoo.h5_path("voc-fcn8s") == Path("/somewhere/else/voc-fcn8s.h5")

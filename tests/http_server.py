"""The one local HTTP server of the tests (dataset and weights downloads): serves byte strings on 127.0.0.1
from a thread, honours single-range Range requests (206 / 416) unless told not to, can cut a response short or
hold it after some bytes until released (a transfer caught halfway, for the tests that kill a download), and
records the path and Range header of every request. Routes answer computed responses (FakeDrive: Google
Drive's confirmation pages). Never touches the internet."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Reply:
    """A computed response; ``serve`` names an entry of ``files`` to send instead (Range honoured)."""

    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    serve: str | None = None


@dataclass
class Behaviour:
    files: dict[str, bytes] = field(default_factory=dict)  # URL path -> content
    honour_range: bool = True
    cut_after: int | None = None  # send only this many body bytes of the next response, then close
    hold_after: int | None = None  # send this many body bytes of the next response, then wait for `release`
    release: threading.Event = field(default_factory=threading.Event)
    ranges: list[str | None] = field(default_factory=list)  # Range header of each request, in order
    paths: list[str] = field(default_factory=list)  # path (with query) of each request, in order
    routes: dict[str, Callable[[Request], Reply]] = field(default_factory=dict)  # URL path (no query) -> answer


class _Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        b = self.behaviour
        b.ranges.append(self.headers.get("Range"))
        b.paths.append(self.path)
        parts = urlsplit(self.path)
        if parts.path in b.routes:
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            reply = b.routes[parts.path](Request(parts.path, query, dict(self.headers.items())))
            if reply.serve is None:
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
                return
            self._send_file(b.files[reply.serve], reply.headers)
            return
        if self.path not in b.files:
            self.send_error(404)
            return
        self._send_file(b.files[self.path])

    def _send_file(self, body: bytes, headers: list[tuple[str, str]] = ()) -> None:
        b = self.behaviour
        start, status = 0, 200
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and b.honour_range:
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        payload = body[start:]
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if b.cut_after is not None:
            payload, b.cut_after = payload[: b.cut_after], None
            self.wfile.write(payload)
            self.wfile.flush()
            self.close_connection = True
            return
        if b.hold_after is not None:
            head, payload, b.hold_after = payload[: b.hold_after], payload[b.hold_after:], None
            self.wfile.write(head)
            self.wfile.flush()
            b.release.wait(timeout=120)
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client was killed while held
            self.close_connection = True


class LocalServer:
    """``with LocalServer(files) as server: server.url("/a.tar")``."""

    def __init__(self, files: dict[str, bytes] | None = None):
        self.behaviour = Behaviour(files=dict(files or {}))
        handler = type("Handler", (_Handler,), {"behaviour": self.behaviour})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.behaviour.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


# ---- Google Drive's answers ------------------------------------------------------------------------------

DRIVE_FLOWS = ("direct", "form", "link", "cookie", "quota", "deleted", "quota-after-confirm")
_HTML = [("Content-Type", "text/html; charset=utf-8")]
_BINARY = [("Content-Type", "application/octet-stream")]


def _page(title: str, body: str) -> bytes:
    return (f"<!DOCTYPE html><html><head><title>{title}</title><style>p {{color: red}}</style></head>"
            f"<body>{body}</body></html>").encode()


class FakeDrive:
    """Google Drive as the kit meets it, on a LocalServer: ``/uc?id=ID`` answers per file flow:

    - ``direct``: the file at once (a small file);
    - ``form``: a redirect to ``/download?id=ID&export=download``, which answers with drive.usercontent's page:
      a form ``id="download-form"`` (absolute action, hidden id, export, confirm, uuid); the file only for the
      uuid that page gave;
    - ``link``: the older page with a link ``/uc?export=download&confirm=TOKEN&id=ID`` and a
      ``download_warning`` cookie; the file only with both;
    - ``cookie``: the older page with no link, only the cookie; the file for ``confirm=TOKEN`` with the cookie;
    - ``quota``: a page saying the quota is exceeded, no download;
    - ``deleted``: HTTP 404 with a page saying the file does not exist;
    - ``quota-after-confirm``: the form, then the quota page in place of the file.
    Files are served from the server's ``files`` (Range honoured as there)."""

    def __init__(self, server: LocalServer):
        self.server = server
        self.flows: dict[str, str] = {}
        self.uuids: dict[str, str] = {}
        self.token = "T0kEn"
        server.behaviour.routes["/uc"] = self._uc
        server.behaviour.routes["/download"] = self._download

    def add(self, file_id: str, content: bytes, flow: str = "form") -> str:
        """Put a file on the fake Drive; returns its ``uc?id=`` address."""
        assert flow in DRIVE_FLOWS, flow
        self.flows[file_id] = flow
        self.server.behaviour.files[f"drive:{file_id}"] = content
        return self.server.url(f"/uc?id={file_id}")

    def _file(self, file_id: str) -> Reply:
        return Reply(serve=f"drive:{file_id}", headers=_BINARY)

    def _cookie_sent(self, request: Request, file_id: str) -> bool:
        return f"download_warning_13_{file_id}={self.token}" in request.headers.get("Cookie", "")

    def _uc(self, request: Request) -> Reply:
        file_id = request.query.get("id", "")
        flow = self.flows.get(file_id)
        if flow is None or flow == "deleted":
            return Reply(404, _page("Google Drive - 404", "<p>No file has this id; it may have been removed.</p>"),
                         _HTML)
        if flow == "direct":
            return self._file(file_id)
        if flow in ("form", "quota-after-confirm"):
            return Reply(303, headers=[("Location", self.server.url(f"/download?id={file_id}&export=download"))])
        if flow == "quota":
            return Reply(200, _page("Google Drive - Quota exceeded",
                                    "<p class='uc-error-caption'>Quota exceeded for this file</p>"
                                    "<p class='uc-error-subcaption'>Downloaded too often; try again later.</p>"),
                         _HTML)
        if request.query.get("confirm") == self.token and self._cookie_sent(request, file_id):
            return self._file(file_id)
        cookie = [("Set-Cookie", f"download_warning_13_{file_id}={self.token}; Path=/")]
        link = (f"<a id='uc-download-link' href='/uc?export=download&amp;confirm={self.token}&amp;id={file_id}'>"
                "Download anyway</a>") if flow == "link" else ""
        return Reply(200, _page("Google Drive - Virus scan warning", f"<p>Too large to scan.</p>{link}"),
                     _HTML + cookie)

    def _download(self, request: Request) -> Reply:
        file_id = request.query.get("id", "")
        flow = self.flows.get(file_id)
        if flow not in ("form", "quota-after-confirm"):
            return Reply(404, _page("Not found", "<p>No such file.</p>"), _HTML)
        uuid = self.uuids.get(file_id)
        if request.query.get("confirm") == "t" and uuid and request.query.get("uuid") == uuid:
            if flow == "quota-after-confirm":
                return Reply(200, _page("Google Drive - Quota exceeded", "<p>Downloaded too often.</p>"), _HTML)
            return self._file(file_id)
        self.uuids[file_id] = secrets.token_hex(8)
        fields = {"id": file_id, "export": "download", "confirm": "t", "uuid": self.uuids[file_id]}
        hidden = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
        form = (f'<form id="download-form" action="{self.server.url("/download")}" method="get">'
                f'<input type="submit" id="uc-download-link" value="Download anyway"/>{hidden}</form>')
        return Reply(200, _page("Google Drive - Virus scan warning", f"<p>Too large to scan.</p>{form}"), _HTML)

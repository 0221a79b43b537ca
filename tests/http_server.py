"""The one local HTTP server of the tests (dataset and weights downloads): serves byte strings on 127.0.0.1
from a thread, honours single-range Range requests (206 / 416) unless told not to, can cut a response short,
and records the Range header of every request. Never touches the internet."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    files: dict[str, bytes] = field(default_factory=dict)  # URL path -> content
    honour_range: bool = True
    cut_after: int | None = None  # send only this many body bytes of the next response, then close
    ranges: list[str | None] = field(default_factory=list)  # Range header of each request, in order


class _Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        b = self.behaviour
        b.ranges.append(self.headers.get("Range"))
        if self.path not in b.files:
            self.send_error(404)
            return
        body = b.files[self.path]
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
        self.wfile.write(payload)


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
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

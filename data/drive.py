"""Google Drive files: Drive's download confirmation in front of the kit's one downloader (data.fetch).

A Drive file's address is ``https://drive.google.com/uc?id=<id>`` (a share link ``.../file/d/<id>/view`` is
read as that). A small file comes back at once. For a large one (Drive scans only small files for viruses) Drive
first answers with a web page asking to confirm, in one of two forms:

- the current one (on ``drive.usercontent.google.com``): a form ``id="download-form"`` whose action and hidden
  fields (``id``, ``export``, ``confirm``, ``uuid``) make the address that serves the file;
- the older one: a link carrying ``confirm=<token>``, or only a ``download_warning...`` cookie whose value is
  the token, to add to the address as ``confirm=`` and send back with the cookie.

``download`` asks once, reads such a page (never written to disk), and hands the address that serves the file,
with the session's cookies, to ``data.fetch.download``: so a Drive file goes to ``<dest>.part``, is resumed with
Range on the next run where the server honours it (else fetched whole again) and gets its name only when
complete. A page that offers no download (quota exceeded, file deleted, access denied) is a DriveError quoting
the page. The hosts recognised as Drive are DRIVE_HOSTS; the tests add their server on 127.0.0.1 to it and run
this same code.

Why not gdown: it follows the confirmation only for addresses on Google's hosts (so a local test server would
not exercise it), brings eight packages (requests and its dependencies, beautifulsoup4) for what ``html.parser``
does here, and downloads with its own partial-file scheme beside the kit's one downloader.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import os
import re
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

from .errors import DownloadError
from .fetch import MAX_PAGE, USER_AGENT, Unreachable, is_web_page, page_summary
from .fetch import download as fetch

# Hosts whose addresses are Drive files (netloc, as in the URL).
DRIVE_HOSTS: set[str] = {"drive.google.com", "drive.usercontent.google.com"}
# Drive's cookie whose value confirms a large file (older flow): download_warning, download_warning_<n>_<id>.
WARNING_COOKIE = re.compile(r"download_warning")


class DriveError(DownloadError):
    """Drive answered with a page that offers no download of the file."""


def is_drive(url: str) -> bool:
    return urlsplit(url).netloc in DRIVE_HOSTS


def file_id(url: str) -> str | None:
    """The Drive file id of ``uc?id=<id>``, ``open?id=<id>`` or ``file/d/<id>/...`` addresses."""
    parts = urlsplit(url)
    ids = parse_qs(parts.query).get("id")
    if ids:
        return ids[0]
    match = re.search(r"/file/d/([\w-]+)", parts.path)
    return match.group(1) if match else None


def download_url(url: str) -> str:
    """The ``uc?id=`` address of a Drive file, on the same host (a share link is rewritten; others kept)."""
    parts = urlsplit(url)
    if "/file/d/" in parts.path and (fid := file_id(url)):
        return urlunsplit((parts.scheme, parts.netloc, "/uc", urlencode({"id": fid}), ""))
    return url


class _Confirmation(HTMLParser):
    """The ways a Drive page offers its file: forms (action, id, hidden fields) and links carrying confirm=."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, str, dict[str, str]]] = []
        self.links: list[str] = []
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._in_form = True
            self.forms.append((a.get("id", ""), a.get("action", ""), {}))
        elif tag == "input" and self._in_form and a.get("name") and a.get("type") == "hidden":
            self.forms[-1][2][a["name"]] = a.get("value", "")
        elif tag == "a" and "confirm=" in a.get("href", ""):
            self.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False

    def target(self, base: str) -> str | None:
        """The address that serves the file: Drive's download form (or any form carrying confirm), else the
        first link carrying confirm=; None when the page offers neither."""
        forms = sorted(self.forms, key=lambda f: f[0] != "download-form")
        for form_id, action, fields in forms:
            if form_id == "download-form" or "confirm" in fields:
                return f"{urljoin(base, action)}?{urlencode(fields)}"
        return urljoin(base, self.links[0]) if self.links else None


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def resolve(url: str, timeout: float = 60.0) -> tuple[str, dict[str, str]]:
    """The address that serves a Drive file and the headers (cookies) to send with it: ``url`` itself when Drive
    serves the file at once, else the confirmed address its page gives. Raises DriveError quoting a page that
    offers no download, Unreachable when Drive cannot be reached."""
    url = download_url(url)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    try:
        response = opener.open(urllib.request.Request(url, headers={"User-Agent": USER_AGENT}), timeout=timeout)
    except urllib.error.HTTPError as e:
        page = e.read(MAX_PAGE) if is_web_page(e.headers) else b""
        said = f": {page_summary(page)}" if page else ""
        raise DriveError(f"{url}: Google Drive answered HTTP {e.code} {e.reason}{said}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as e:
        raise Unreachable(url, getattr(e, "reason", e)) from e
    with response:
        if not is_web_page(response.headers):
            target = url  # the file itself (a small file, or one Drive serves without asking): fetched anew below
        else:
            where = response.geturl()  # after redirects (drive.google.com sends uc? to drive.usercontent)
            page = response.read(MAX_PAGE)
            parser = _Confirmation()
            parser.feed(page.decode("utf-8", "replace"))
            target = parser.target(where)
            token = next((c.value for c in jar if WARNING_COOKIE.match(c.name) and c.value), None)
            if target is None and token:
                target = _with_query(url, confirm=token)
            if target is None:
                raise DriveError(f"{url}: Google Drive answered with a page that offers no download of the file: "
                                 f"{page_summary(page)}")
    request = urllib.request.Request(target)
    jar.add_cookie_header(request)
    cookie = request.get_header("Cookie")
    return target, ({"Cookie": cookie} if cookie else {})


def download(url: str, dest: str | os.PathLike, *, timeout: float = 60.0, progress: bool | None = None,
             **kwargs) -> Path:
    """Download a Drive file to ``dest`` (through ``dest``.part, resumed where Drive honours Range), confirming
    a large file's download; a complete ``dest`` is returned as it is. ``kwargs`` go to data.fetch.download."""
    dest = Path(dest)
    if dest.is_file():
        return dest
    target, headers = resolve(url, timeout)
    return fetch(target, dest, timeout=timeout, progress=progress, headers=headers, refuse_html=True, **kwargs)

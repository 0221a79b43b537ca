"""The kit's one resumable HTTP downloader, shared by the datasets (data.download) and the weights
(weights.zoo).

A download goes to ``<dest>.part`` and is continued with an HTTP Range request on the next attempt; ``dest``
appears only when the file is complete (the length the server announced, and ``size`` when one is known). A
server that ignores Range gets the whole file again; a partial file that is no prefix of the server's file
(416 with another total) is our own leftover, so it is removed and the download starts afresh once. With
``refuse_html`` a response served as a web page (an error or login page where a binary file was expected) is an
error quoting the page, and nothing of it is written. Google Drive's confirmation page is data.drive's.
"""

from __future__ import annotations

import errno
import http.client
import os
import re
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

from tqdm import tqdm

from .errors import DiskFull, DownloadError
from .files import NotEnoughSpace, locked, require_space

USER_AGENT = "fcn-kit downloader"
_CHUNK = 1 << 20
MAX_PAGE = 1 << 20  # bytes of a web page read to say what it is (error and confirmation pages are a few kB)


class Unreachable(DownloadError):
    """The server could not be reached at all (no network, DNS failure, refused connection, timeout)."""

    def __init__(self, url: str, reason: object):
        self.url = url
        super().__init__(f"cannot reach {url}: {reason}")


class _PageText(HTMLParser):
    """The title and the visible text of a web page (scripts and styles left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.title: list[str] = []
        self.text: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("title", "script", "style"):
            self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        where = self._in[-1] if self._in else ""
        if where == "title":
            self.title.append(data)
        elif where not in ("script", "style"):
            self.text.append(data)


def page_summary(page: bytes, limit: int = 300) -> str:
    """What a web page says, in one line: its title, then its visible text, cut at ``limit`` characters."""
    parser = _PageText()
    parser.feed(page.decode("utf-8", "replace"))
    parser.close()
    title = " ".join(" ".join(parser.title).split())
    text = " ".join(" ".join(parser.text).split())
    if title and text.startswith(title):
        text = text[len(title):].lstrip(" -:")
    line = f"{title}: {text}" if title and text else title or text or "an empty page"
    return line if len(line) <= limit else line[: limit - 3] + "..."


def is_web_page(headers) -> bool:
    """Whether a response's Content-Type says it is a web page (HTML), not a file."""
    return headers.get_content_type() in ("text/html", "application/xhtml+xml")


def _total_from_content_range(value: str | None) -> int | None:
    match = re.search(r"/(\d+)\s*$", value or "")
    return int(match.group(1)) if match else None


def _open(url: str, offset: int, timeout: float, headers: dict[str, str] | None):
    wanted = {"User-Agent": USER_AGENT, **(headers or {})}
    if offset:
        wanted["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=wanted), timeout=timeout)
    except urllib.error.HTTPError:
        raise
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as e:
        raise Unreachable(url, getattr(e, "reason", e)) from e


def download(url: str, dest: str | os.PathLike, *, size: int | None = None, timeout: float = 60.0,
             progress: bool | None = None, chunk: int = _CHUNK, headers: dict[str, str] | None = None,
             refuse_html: bool = False, check_space: bool = False) -> Path:
    """Download ``url`` to ``dest`` through ``dest``.part (resumed if present) and return ``dest``. A complete
    ``dest`` is returned as it is. ``progress``: True / False, or None for a bar on a terminal only.
    ``refuse_html``: a web page in answer is a DownloadError quoting it (the .part is left as it was).
    ``check_space``: once the server has said how large the file is, a disk without room for the rest is a
    DownloadError naming both numbers, before a byte is written. Two downloads of one ``dest`` at once take
    turns (data.files.locked, on the .part): the second waits, with a line saying so, and finds the file
    complete."""
    dest = Path(dest)
    if not dest.is_file():
        # Two downloads of one file take turns on its .part (locked, not written, by data.files.locked): the
        # second finds the file complete. A .part that this run created and left empty is removed again.
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        with locked(part, f"downloading {dest.name}", print, own_file=False) as created:
            try:
                if not dest.is_file():
                    return _download(url, dest, size=size, timeout=timeout, progress=progress, chunk=chunk,
                                     headers=headers, refuse_html=refuse_html, check_space=check_space,
                                     _restarted=False)
            finally:
                if created and part.is_file() and part.stat().st_size == 0:
                    part.unlink()
    if size is not None and dest.stat().st_size != size:
        raise DownloadError(f"{dest} has {dest.stat().st_size} bytes, expected {size}; move it away and run the "
                            "command again")
    return dest


def _download(url: str, dest: Path, *, size: int | None, timeout: float, progress: bool | None, chunk: int,
              headers: dict[str, str] | None, refuse_html: bool, check_space: bool, _restarted: bool) -> Path:
    """download's transfer, under its lock."""
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    try:
        response = _open(url, offset, timeout, headers)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # nothing left to send: the partial file may already be whole
            total = _total_from_content_range(e.headers.get("Content-Range"))
            if total == offset and size in (None, offset):
                os.replace(part, dest)
                return dest
            if not _restarted:  # our partial is no prefix of the server's file: start over, once
                os.truncate(part, 0)  # the same file, still the one locked
                return _download(url, dest, size=size, timeout=timeout, progress=progress, chunk=chunk,
                                 headers=headers, refuse_html=refuse_html, check_space=check_space,
                                 _restarted=True)
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from e
    with response:
        if refuse_html and is_web_page(response.headers):
            raise DownloadError(f"{url} answered with a web page, not the file: "
                                f"{page_summary(response.read(MAX_PAGE))}")
        resumed = offset > 0 and response.status == 206
        if resumed:
            start = int((response.headers.get("Content-Range") or "bytes 0-").split()[1].split("-")[0])
            if start != offset:
                raise DownloadError(f"{url}: asked to resume at byte {offset}, the server answered from byte "
                                    f"{start}; run the command again")
        else:
            offset = 0  # a 200: the server sends the whole file (it ignored Range, or there was nothing)
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        if resumed:
            total = _total_from_content_range(response.headers.get("Content-Range")) or total
        if size is not None and total is not None and total != size:
            raise DownloadError(f"{url} is {total} bytes but {size} were expected; the file on the server "
                                "changed, check the URL")
        if check_space and total is not None:
            try:
                require_space(dest.parent, total - offset, f"the rest of {dest.name}")
            except NotEnoughSpace as e:
                raise DiskFull(str(e)) from e
        bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name,
                   disable=None if progress is None else not progress)
        try:
            with open(part, "ab" if resumed else "wb") as f, bar:
                while block := response.read(chunk):
                    f.write(block)
                    bar.update(len(block))
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise DiskFull(f"the disk holding {dest.parent} is full after {part.stat().st_size} bytes "
                                    f"of {url}; free some space and run the same command again to resume from "
                                    f"{part}") from e
            # Whatever arrived stays in the .part file for the next attempt to resume from.
            raise DownloadError(f"{url}: the transfer broke off after {part.stat().st_size} bytes "
                                f"({type(e).__name__}); run the same command again to resume from {part}") from e
        except http.client.HTTPException as e:
            raise DownloadError(f"{url}: the transfer broke off after {part.stat().st_size} bytes "
                                f"({type(e).__name__}); run the same command again to resume from {part}") from e
    got = part.stat().st_size
    expected = size if size is not None else total
    if expected is not None and got != expected:
        raise DownloadError(f"{url}: received {got} of {expected} bytes (the connection closed); run the same "
                            f"command again to resume from {part}")
    os.replace(part, dest)
    return dest

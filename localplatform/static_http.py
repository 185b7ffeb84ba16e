"""A small static web server for local pages: the demo shop and the tracker's test pages.

What a path serves is up to a resolver, so a site can map pretty URLs onto its files and make
some files on request (a page's settings, a catalog)::

    def resolve(path: str) -> Path | Generated | None: ...
    server = serve(resolve)                 # background thread; server.url is the origin
    ...
    server.stop()

Files are sent with ``Cache-Control: no-store``: a test or a walk always loads what is there now.
"""

from __future__ import annotations

import logging
import mimetypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

log = logging.getLogger("localplatform.static_http")


@dataclass(frozen=True)
class Generated:
    """A response made on request (not a file on disk)."""

    body: bytes
    content_type: str


Resolver = Callable[[str], "Path | Generated | None"]


def file_under(root: Path, path: str) -> Path | None:
    """``root``/``path`` if that is a file inside ``root`` (no way out with ``..``), else None."""
    root = root.resolve()
    candidate = (root / path.lstrip("/")).resolve()
    return candidate if candidate.is_file() and candidate.is_relative_to(root) else None


class StaticServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], resolve: Resolver) -> None:
        super().__init__(address, _Handler)
        self.resolve = resolve
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StaticServer:
        self._thread = threading.Thread(target=self.serve_forever, name="static-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    server: StaticServer
    server_version = "local-static"
    sys_version = ""

    def do_GET(self) -> None:
        found = self.server.resolve(unquote(urlsplit(self.path).path))
        if found is None:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")
        elif isinstance(found, Generated):
            self._send(200, found.body, found.content_type)
        else:
            content_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
            if content_type.startswith("text/") or content_type.endswith("javascript"):
                content_type += "; charset=utf-8"
            self._send(200, found.read_bytes(), content_type)

    def log_message(self, format: str, *args) -> None:
        log.debug("%s %s", self.command, format % args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.send_header("cache-control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def serve(resolve: Resolver, host: str = "127.0.0.1", port: int = 0) -> StaticServer:
    """Start serving on a background thread (port 0 picks a free port)."""
    return StaticServer((host, port), resolve).start()

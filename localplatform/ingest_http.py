"""Local stand-in for API Gateway (HTTP API, payload format 2.0) in front of Lambda Ingest.

Real HTTP requests on localhost become payload 2.0 events (lowercased headers, duplicates
comma-joined, ``cookies``, ``isBase64Encoded`` for binary or content-encoded bodies,
``requestContext`` with method, source IP, user agent, request id and ``timeEpoch``); the
handler's answer becomes the HTTP response. CORS works as with an HTTP API CORS
configuration: preflights are answered here without calling the function, and allowed
origins get ``Access-Control-Allow-Origin`` on every response.

In-process (tests, demo)::

    server = serve("127.0.0.1", 0)          # background thread; server.url is the endpoint
    ...
    server.stop()

Standalone (env RAW_BUCKET, AWS_ENDPOINT_URL for an S3 emulator)::

    python -m localplatform.ingest_http --port 8080 --allowed-origins http://localhost:3000
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import secrets
import signal
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger("localplatform.ingest_http")

#: The route API Gateway sends to Lambda Ingest (ANY, so the function answers 405 itself).
ROUTE_PATH = "/clickstream"
#: API Gateway's own payload limit; the function applies the contract's smaller caps.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
_TEXT_MEDIA_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded",
                     "application/xml", "application/javascript")

LambdaHandler = Callable[[dict, object], dict]


@dataclass(frozen=True)
class CorsConfig:
    """The subset of an HTTP API ``CorsConfiguration`` that matters here."""

    allow_origins: tuple[str, ...] = ("*",)
    allow_methods: tuple[str, ...] = ("POST",)
    allow_headers: tuple[str, ...] = ("content-type", "content-encoding")
    expose_headers: tuple[str, ...] = ("retry-after",)
    max_age: int = 600

    def allows(self, origin: str) -> bool:
        origin = origin.lower()
        for pattern in self.allow_origins:
            allowed = pattern.lower()
            if allowed in ("*", origin):
                return True
            if allowed.endswith("://*") and origin.startswith(allowed[:-1]):
                return True  # "https://*": any origin with that scheme, as API Gateway allows
        return False

    def allow_origin_header(self, origin: str) -> str:
        return "*" if "*" in self.allow_origins else origin

    @classmethod
    def from_origins(cls, origins: str | list[str] | tuple[str, ...] | None) -> CorsConfig:
        if origins is None:
            return cls()
        if isinstance(origins, str):
            origins = [part.strip() for part in origins.split(",")]
        cleaned = tuple(origin.rstrip("/") for origin in origins if origin)
        if not cleaned:
            raise ValueError("allowed origins: give at least one origin, or *")
        return cls(allow_origins=cleaned)


@dataclass
class LocalLambdaContext:
    """The attributes of a Lambda context object that handlers and powertools read."""

    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "clickstream-ingest-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:clickstream-ingest-local"
    log_group_name: str = "/aws/lambda/clickstream-ingest-local"
    log_stream_name: str = "local"
    deadline_ms: int = field(default_factory=lambda: int(time.time() * 1000) + 30_000)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


def _is_text(headers: dict[str, str]) -> bool:
    if headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
        return False
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return not media_type or media_type.startswith(_TEXT_MEDIA_TYPES) or media_type.endswith("+json")


def build_event(*, method: str, target: str, headers: list[tuple[str, str]], body: bytes,
                source_ip: str, now_ms: int | None = None) -> dict:
    """A payload 2.0 event as API Gateway would send it for this HTTP request."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    url = urlsplit(target)
    folded: dict[str, str] = {}
    for raw_name, value in headers:
        name = raw_name.lower()
        folded[name] = f"{folded[name]},{value}" if name in folded else value
    cookies = [c.strip() for c in folded.pop("cookie", "").split(";") if c.strip()]
    query: dict[str, str] = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    request_id = base64.b64encode(secrets.token_bytes(12)).decode()
    event: dict = {
        "version": "2.0",
        "routeKey": f"ANY {ROUTE_PATH}",
        "rawPath": url.path,
        "rawQueryString": url.query,
        "headers": folded,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": folded.get("host", "localhost"),
            "domainPrefix": folded.get("host", "localhost").split(".")[0],
            "http": {
                "method": method,
                "path": url.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": folded.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": f"ANY {ROUTE_PATH}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000)),
            "timeEpoch": now_ms,
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        text = None
        if _is_text(folded):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
    return event


class _PayloadTooLarge(Exception):
    pass


class IngestHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: LambdaHandler | None, cors: CorsConfig) -> None:
        super().__init__(address, _RequestHandler)
        self.lambda_handler = handler
        self.cors = cors
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{ROUTE_PATH}"

    def invoke(self, event: dict) -> dict:
        if self.lambda_handler is None:
            from functions.ingest.handler import handler  # noqa: PLC0415 - imported on first request

            self.lambda_handler = handler
        return self.lambda_handler(event, LocalLambdaContext())

    def start(self) -> IngestHTTPServer:
        self._thread = threading.Thread(target=self.serve_forever, name="ingest-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: IngestHTTPServer
    server_version = "local-apigateway"
    sys_version = ""

    def do_POST(self) -> None:
        self._dispatch()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_POST

    def do_OPTIONS(self) -> None:
        origin = self.headers.get("origin")
        if origin and self.headers.get("access-control-request-method"):
            self._preflight(origin)
        else:
            self._dispatch()

    def log_message(self, format: str, *args) -> None:
        # The stdlib access log starts with the client address; this one leaves IPs out.
        log.info("%s %s", self.command, format % args)

    def _preflight(self, origin: str) -> None:
        cors = self.server.cors
        method = self.headers.get("access-control-request-method", "").strip().upper()
        headers: dict[str, str] = {}
        if cors.allows(origin) and method in cors.allow_methods:
            headers = {
                "access-control-allow-origin": cors.allow_origin_header(origin),
                "access-control-allow-methods": ",".join(cors.allow_methods),
                "access-control-allow-headers": ",".join(cors.allow_headers),
                "access-control-max-age": str(cors.max_age),
                "vary": "origin",
            }
        self._send(204, headers, b"", add_cors=False)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            raise _PayloadTooLarge
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_PAYLOAD_BYTES:
                raise _PayloadTooLarge
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)  # CRLF after the chunk

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except _PayloadTooLarge:
            self.close_connection = True
            self._send_json(413, {"message": "Request Entity Too Large"})
            return
        except ValueError:
            self.close_connection = True
            self._send_json(400, {"message": "Bad Request"})
            return
        if urlsplit(self.path).path != ROUTE_PATH:
            self._send_json(404, {"message": "Not Found"})
            return
        event = build_event(method=self.command, target=self.path, headers=list(self.headers.items()),
                            body=body, source_ip=self.client_address[0])
        try:
            response = self.server.invoke(event)
        except Exception:  # a crashed function is API Gateway's 500, not a dead server
            log.error("ingest handler raised:\n%s", traceback.format_exc())
            self._send_json(500, {"message": "Internal Server Error"})
            return
        self._send_lambda_response(response)

    def _send_lambda_response(self, response) -> None:
        if not isinstance(response, dict) or "statusCode" not in response:
            # Payload 2.0: anything without statusCode is a 200 with the value as JSON.
            self._send_json(200, response)
            return
        try:
            status = int(response["statusCode"])
            body = response.get("body") or ""
            payload = (base64.b64decode(body, validate=True) if response.get("isBase64Encoded")
                       else str(body).encode("utf-8"))
            headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
        except (ValueError, TypeError, AttributeError):  # API Gateway's answer to a malformed response
            log.error("ingest handler returned a malformed response")
            self._send_json(500, {"message": "Internal Server Error"})
            return
        for name in list(headers):
            if name.startswith("access-control-"):
                del headers[name]  # with a CORS configuration API Gateway ignores the function's
        self._send(status, headers, payload, cookies=response.get("cookies") or [])

    def _send_json(self, status: int, value) -> None:
        self._send(status, {"content-type": "application/json"}, json.dumps(value).encode("utf-8"))

    def _send(self, status: int, headers: dict[str, str], payload: bytes, cookies: list[str] = (),
              add_cors: bool = True) -> None:
        origin = self.headers.get("origin")
        cors = self.server.cors
        if add_cors and origin and cors.allows(origin):
            headers = {**headers, "access-control-allow-origin": cors.allow_origin_header(origin),
                       "access-control-expose-headers": ",".join(cors.expose_headers), "vary": "origin"}
        self.send_response(status)
        headers.setdefault("date", formatdate(usegmt=True))
        headers["apigw-requestid"] = headers.get("apigw-requestid", secrets.token_urlsafe(12))
        for name, value in headers.items():
            if name not in ("content-length", "connection", "date"):
                self.send_header(name, value)
        for cookie in cookies:
            self.send_header("set-cookie", cookie)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def serve(host: str = "127.0.0.1", port: int = 8080, handler: LambdaHandler | None = None,
          allowed_origins: str | list[str] | tuple[str, ...] | None = None) -> IngestHTTPServer:
    """Start the adapter on a background thread and return the server (``.url``, ``.stop()``).

    ``handler`` defaults to ``functions.ingest.handler.handler``; port 0 picks a free port.
    ``allowed_origins``: CORS origins (list or comma-separated; ``*`` for any), default ``*``.
    """
    return IngestHTTPServer((host, port), handler, CorsConfig.from_origins(allowed_origins)).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    parser.add_argument("--allowed-origins", default=os.environ.get("INGEST_ALLOWED_ORIGINS", "*"),
                        help="CORS origins, comma-separated, * for any (env INGEST_ALLOWED_ORIGINS; "
                             "default *)")
    args = parser.parse_args(argv)
    if not os.environ.get("RAW_BUCKET"):
        parser.error("RAW_BUCKET is not set: name the raw bucket (AWS_ENDPOINT_URL for an emulator)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        server = serve(args.host, args.port, allowed_origins=args.allowed_origins)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    print(f"ingest listening on {server.url}", flush=True)
    stopped.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

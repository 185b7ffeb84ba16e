"""Fixtures for the tracker in a real browser: the built tracker on test pages served from one
origin (http://localhost:P), the local ingest adapter on another (http://127.0.0.1:Q) writing to
moto's S3 server, a small scripted stub endpoint for answers ingest never gives on demand (a 503
once, a 400), and one headless Chromium for the module."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

from functions.raw_layout import PREFIX
from functions.schemas import ENRICHMENT_FIELDS
from localplatform import static_http, tracker_bundle
from localplatform.chromium import headless_chromium
from localplatform.static_http import Generated
from tests.etl.conftest import REGION, moto_endpoint, warehouse  # noqa: F401 - fixtures used here
from tests.support.net import free_port

PAGES = Path(__file__).resolve().parent / "pages"
REPO = Path(__file__).resolve().parents[2]


def wait_for(what: str, check: Callable[[], object], timeout: float = 10, every: float = 0.1):
    """Polls ``check`` until it returns something truthy, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


class TestSite:
    """The test pages, the built tracker under /tracker/ and /options.js made from ``options``."""

    def __init__(self) -> None:
        self.options: dict = {}
        dist = tracker_bundle.built()

        def resolve(path: str) -> Path | Generated | None:
            if path == "/options.js":
                body = f"window.TRACKER_OPTIONS = {json.dumps(self.options)};\n".encode()
                return Generated(body, "text/javascript; charset=utf-8")
            if path.startswith("/tracker/"):
                return static_http.file_under(dist, path.removeprefix("/tracker/"))
            return static_http.file_under(PAGES, "index.html" if path == "/" else path)

        self.server = static_http.serve(resolve)
        # "localhost", not 127.0.0.1 as the endpoints: the page is cross-site to what it posts to.
        self.origin = f"http://localhost:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def site() -> Iterator[TestSite]:
    site = TestSite()
    yield site
    site.server.stop()


class RawBucket:
    """The raw bucket's lines as (event, enrichment) pairs."""

    def __init__(self, s3, name: str) -> None:
        self.s3, self.name = s3, name

    def lines(self) -> list[dict]:
        found = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=PREFIX)
        for page in pages:
            for item in page.get("Contents", ()):
                body = self.s3.get_object(Bucket=self.name, Key=item["Key"])["Body"].read().decode("utf-8")
                found.extend(json.loads(line) for line in body.splitlines() if line)
        return found

    def events(self, client_id: str) -> list[tuple[dict, dict]]:
        """This browser's events, in the order they were received, split from ingest's fields."""
        mine = [line for line in self.lines() if line.get("client_id") == client_id]
        mine.sort(key=lambda line: (line["received_at"], line["event_timestamp"]))
        return [({k: v for k, v in line.items() if k not in ENRICHMENT_FIELDS},
                 {k: v for k, v in line.items() if k in ENRICHMENT_FIELDS}) for line in mine]

    def wait_events(self, client_id: str, count: int, timeout: float = 10) -> list[tuple[dict, dict]]:
        return wait_for(f"{count} events of client {client_id} in s3://{self.name}",
                        lambda: (found := self.events(client_id)) and len(found) >= count and found, timeout)


@pytest.fixture(scope="module")
def raw(moto_endpoint) -> RawBucket:  # noqa: F811 - the fixture imported above
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    name = f"raw-tracker-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return RawBucket(s3, name)


@contextlib.contextmanager
def ingest_adapter(raw: RawBucket, moto_endpoint: str, allowed_origins: str) -> Iterator[str]:  # noqa: F811
    """The local ingest adapter as the demo runs it (a process), allowing these origins only."""
    port = free_port()
    env = {**os.environ, "RAW_BUCKET": raw.name, "AWS_ENDPOINT_URL": moto_endpoint, "AWS_REGION": REGION}
    proc = subprocess.Popen([sys.executable, "-m", "localplatform.ingest_http", "--port", str(port),
                             "--allowed-origins", allowed_origins], env=env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = proc.stdout.readline()
        assert "ingest listening on" in line, f"the ingest adapter did not start: {line!r}"
        yield f"http://127.0.0.1:{port}/clickstream"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def ingest(raw: RawBucket, site: TestSite, moto_endpoint) -> Iterator[str]:  # noqa: F811
    """Ingest for the test pages' origin."""
    with ingest_adapter(raw, moto_endpoint, site.origin) as url:
        yield url


@dataclass
class StubRequest:
    at: float
    body: str
    events: list[dict]


@dataclass
class StubEndpoint:
    """Answers POSTs from a script of (status, headers, body); 202 once the script is used up."""

    url: str = ""
    script: list[tuple[int, dict, dict]] = field(default_factory=list)
    requests: list[StubRequest] = field(default_factory=list)

    def answer(self, body: str) -> tuple[int, dict, dict]:
        try:
            events = json.loads(body)["events"]
        except (ValueError, KeyError, TypeError):
            events = []
        self.requests.append(StubRequest(time.monotonic(), body, events))
        if self.script:
            return self.script.pop(0)
        return 202, {}, {"accepted": len(events), "rejected": []}

    def from_page(self, marker: str) -> list[StubRequest]:
        """The requests carrying an event of a page whose URL has ``marker``."""
        return [r for r in self.requests if any(marker in e.get("page", {}).get("url", "") for e in r.events)]


@pytest.fixture(scope="module")
def stub() -> Iterator[StubEndpoint]:
    endpoint = StubEndpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode("utf-8")
            status, headers, answer = endpoint.answer(body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            # As the ingest stack's CORS configuration answers: the page may read status and Retry-After.
            cors = {"access-control-allow-origin": "*", "access-control-expose-headers": "retry-after"}
            for name, value in {**cors, "content-type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/clickstream"
    yield endpoint
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with headless_chromium(console_log=True) as driver:
        yield driver


class Page:
    """Opens test pages in the module's browser, each test as a new visitor."""

    def __init__(self, browser, site: TestSite) -> None:
        self.browser, self.site = browser, site

    def open(self, options: dict, path: str = "/") -> None:
        """A new visitor (no cookies or storage on the test origin) on ``path`` with these options."""
        self.browser.get(f"{self.site.origin}/blank.html")  # the last test's page leaves (its beacons go)
        self.browser.execute_script("localStorage.clear()")
        self.browser.delete_all_cookies()
        self.browser.get_log("browser")  # drops what earlier pages logged
        self.site.options = options
        self.browser.get(f"{self.site.origin}{path}")

    def client_id(self) -> str:
        cookie = self.browser.get_cookie("_cs_cid")
        assert cookie, "the tracker set no client id cookie"
        return cookie["value"]

    def run(self, script: str):
        return self.browser.execute_script(script)

    def flush(self) -> None:
        self.browser.execute_async_script("clickstream.flush().then(arguments[arguments.length - 1])")

    def warnings(self) -> list[str]:
        return [entry["message"] for entry in self.browser.get_log("browser") if entry["level"] == "WARNING"]

    def stored(self) -> dict:
        """The tracker's keys in localStorage and its cookie, as the page sees them."""
        return self.run("return {storage: Object.keys(localStorage).filter(k => k.startsWith('_cs')), "
                        "cookie: document.cookie}")


@pytest.fixture
def page(browser, site: TestSite) -> Page:
    return Page(browser, site)

"""Lambda Ingest throughput and cold-start cost (prints a table; not a test).

Throughput: the real handler on API Gateway payload 2.0 events (decode, JSON, schema validation,
enrichment, raw lines, the structured log line), with the bucket write replaced at its boundary
by an in-memory sink. Events per second per core = events / CPU seconds of this one process.

Cold start: fresh interpreters importing the handler module, and (separately) what the first
bucket write adds: importing boto3 and creating the S3 client, done lazily on the first put.

    .venv/bin/python bench/ingest.py [--seconds 1.5]

Targets (issue 3): >= 20,000 events/s/core at batch 50; handler import < 300 ms.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from functions.ingest import handler as handler_module  # noqa: E402

TARGET_EVENTS_PER_CORE = 20_000
TARGET_IMPORT_MS = 300
UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 "
      "Safari/537.36")


class MemorySink:
    def __init__(self) -> None:
        self.objects = 0
        self.bytes = 0

    def put(self, key: str, body: bytes) -> None:
        self.objects += 1
        self.bytes += len(body)


def sample_event(i: int) -> dict:
    """A shop-like mix: mostly page and product views, some carts, searches and purchases."""
    kind = ("page_view", "product_view", "product_view", "search", "add_to_cart", "page_view",
            "product_view", "begin_checkout", "page_view", "purchase")[i % 10]
    event = {
        "event_id": str(uuid.uuid4()),
        "event_timestamp": "2026-11-21T23:05:00.000+07:00",
        "event_name": kind,
        "user_id": None if i % 3 else f"sub-{i:06d}",
        "user_login_state": "guest" if i % 3 else "logged_in",
        "identity_source": "anonymous" if i % 3 else "cognito",
        "client_id": f"cid-{i % 97:04d}",
        "session_id": f"sid-{i % 31:04d}",
        "is_first_visit": i % 7 == 0,
        "page": {"url": f"https://shop.example/p/{i % 80}", "path": f"/p/{i % 80}",
                 "title": "Gaming laptop 16 inch", "referrer": "https://shop.example/"},
    }
    if kind in ("product_view", "add_to_cart"):
        event["context"] = {"product": {"id": f"LAP-{i % 80:03d}", "name": "Gaming laptop 16 inch",
                                        "category": "laptops", "brand": "Acme", "price": 1499.0,
                                        "discount_price": 1299.0, "url_path": f"/p/{i % 80}"}}
    if kind == "purchase":
        event["context"] = {"order": {"order_id": f"o-{i}", "revenue": 1299.0, "currency": "USD",
                                      "items": [{"product_id": f"LAP-{i % 80:03d}", "quantity": 1,
                                                 "price": 1299.0}]}}
    if kind == "search":
        event["properties"] = {"query": "rtx 4070 laptop", "results": 12}
    return event


def apigw_event(body: str, *, is_base64: bool = False, gzip_encoded: bool = False) -> dict:
    headers = {"content-type": "text/plain;charset=UTF-8", "user-agent": UA, "origin": "https://shop.example"}
    if gzip_encoded:
        headers["content-encoding"] = "gzip"
    return {
        "version": "2.0", "routeKey": "POST /clickstream", "rawPath": "/clickstream", "rawQueryString": "",
        "headers": headers, "body": body, "isBase64Encoded": is_base64,
        "requestContext": {"http": {"method": "POST", "path": "/clickstream", "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.77", "userAgent": UA},
                           "requestId": "bench", "timeEpoch": 1_763_766_309_123, "stage": "$default"},
    }


def throughput(request: dict, batch: int, seconds: float) -> tuple[float, float, float]:
    """(events/s per core, mean ms per request, objects written) for ``seconds`` of CPU time."""
    sink = MemorySink()
    handler_module.sink = sink
    response = handler_module.handler(request, None)  # warm-up, and a check the request is accepted
    assert response["statusCode"] == 202, response
    assert json.loads(response["body"])["accepted"] == batch, response["body"]
    requests = 0
    cpu_start = time.process_time()
    wall_start = time.perf_counter()
    while time.process_time() - cpu_start < seconds:
        for _ in range(10):
            handler_module.handler(request, None)
        requests += 10
    cpu = time.process_time() - cpu_start
    wall = time.perf_counter() - wall_start
    return requests * batch / cpu, wall / requests * 1000, sink.objects


def median_ms(code: str, runs: int) -> tuple[float, float]:
    """Median (wall ms, CPU ms) of ``code`` (which prints both) over fresh interpreters."""
    walls, cpus = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}).stdout
        wall, cpu = out.strip().splitlines()[-1].split()
        walls.append(float(wall))
        cpus.append(float(cpu))
    return statistics.median(walls), statistics.median(cpus)


_TIMED = ("import time; w, c = time.perf_counter(), time.process_time(); {body}; "
          "print((time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000)")
IMPORT_CODE = _TIMED.format(body="import functions.ingest.handler")
BOTO3_CODE = "import functions.ingest.handler; " + _TIMED.format(
    body="import boto3; boto3.client('s3', region_name='ap-southeast-1')")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="CPU seconds per throughput row")
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per cold-start row")
    args = parser.parse_args()
    # The log line is formatted as in Lambda, then discarded, so the table stays readable.
    handler_module.logger.registered_handler.setStream(open(os.devnull, "w"))  # noqa: SIM115

    rows = []
    for batch in (1, 50, 500):
        events = [sample_event(i) for i in range(batch)]
        body = json.dumps(events[0] if batch == 1 else {"events": events})
        rate, ms, _ = throughput(apigw_event(body), batch, args.seconds)
        rows.append((f"batch {batch}, JSON text", len(body), rate, ms))
        if batch == 50:
            packed = base64.b64encode(gzip.compress(body.encode())).decode()
            request = apigw_event(packed, is_base64=True, gzip_encoded=True)
            rate, ms, _ = throughput(request, batch, args.seconds)
            rows.append((f"batch {batch}, gzip+base64", len(packed), rate, ms))

    print(f"Lambda Ingest throughput (one process, {args.seconds:g} CPU s per row, in-memory sink)")
    print(f"{'request':<26}{'body bytes':>12}{'events/s/core':>16}{'ms/request':>12}")
    for label, size, rate, ms in rows:
        print(f"{label:<26}{size:>12,}{rate:>16,.0f}{ms:>12.3f}")

    import_wall, import_cpu = median_ms(IMPORT_CODE, args.runs)
    boto3_wall, boto3_cpu = median_ms(BOTO3_CODE, args.runs)
    print()
    print(f"cold start (median of {args.runs} fresh interpreters; CPU time is what an idle core would take)")
    print(f"{'':<42}{'wall':>10}{'CPU':>10}")
    print(f"{'import functions.ingest.handler':<42}{import_wall:>8.1f}ms{import_cpu:>8.1f}ms")
    print(f"{'+ boto3 import and S3 client (first put)':<42}{boto3_wall:>8.1f}ms{boto3_cpu:>8.1f}ms")

    batch50 = rows[1][2]
    print()
    print(f"target batch 50 >= {TARGET_EVENTS_PER_CORE:,} events/s/core: "
          f"{'met' if batch50 >= TARGET_EVENTS_PER_CORE else 'MISSED'} ({batch50:,.0f})")
    verdict = "met" if import_cpu < TARGET_IMPORT_MS else "MISSED"
    print(f"target import < {TARGET_IMPORT_MS} ms (CPU): {verdict} "
          f"({import_cpu:.1f} ms CPU, {import_wall:.1f} ms wall on this machine now)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Real HTTP through the local API Gateway adapter: beacons, gzip, CORS, and the CLI on moto server."""

from __future__ import annotations

import base64
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from localplatform.ingest_http import CorsConfig, build_event, serve
from tests.ingest.helpers import BUCKET, batch_body, stored_objects
from tests.ingest.helpers import make_event as contract_event


def make_event(name: str = "page_view", **fields) -> dict:
    """An event of now: the adapter stamps received_at with the real clock, and ingest refuses
    an event_timestamp far from it (functions/event_time.py)."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return contract_event(name, **{"event_timestamp": now, **fields})

REPO = Path(__file__).resolve().parents[2]
SHOP = "http://shop.localhost:3000"


@pytest.fixture
def adapter(s3) -> Iterator[str]:
    """The adapter in front of the real handler, moto S3 behind it; yields the endpoint URL."""
    server = serve("127.0.0.1", 0, allowed_origins=[SHOP, "https://*"])
    yield server.url
    server.stop()


def post(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict, dict]:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local test server
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_text_plain_beacon_from_the_shop(adapter, s3):
    events = [make_event(), make_event("product_view")]
    status, headers, body = post(adapter, batch_body(*events).encode(), {
        "Content-Type": "text/plain;charset=UTF-8", "Origin": SHOP,
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"})
    assert (status, body) == (202, {"accepted": 2, "rejected": []})
    assert headers["access-control-allow-origin"] == SHOP
    assert headers["apigw-requestid"]
    (stored,) = stored_objects(s3).values()
    assert [line["event_id"] for line in stored["lines"]] == [e["event_id"] for e in events]
    assert {line["source_ip"] for line in stored["lines"]} == {"127.0.0.0"}
    assert {line["is_bot"] for line in stored["lines"]} == {False}


def test_gzip_post_with_requests(adapter, s3):
    events = [make_event("search"), make_event("purchase")]
    response = requests.post(adapter, data=gzip.compress(batch_body(*events).encode()), timeout=10,
                             headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status_code == 202
    assert response.json() == {"accepted": 2, "rejected": []}
    (stored,) = stored_objects(s3).values()
    assert [line["event_name"] for line in stored["lines"]] == ["search", "purchase"]
    assert {line["is_bot"] for line in stored["lines"]} == {True}  # python-requests is flagged


def test_chunked_upload(adapter, s3):
    payload = batch_body(make_event(), make_event()).encode()
    response = requests.post(adapter, data=iter([payload[:50], payload[50:]]), timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 202 and response.json()["accepted"] == 2


def test_cors_preflight_from_an_allowed_origin(adapter):
    response = requests.options(adapter, timeout=10, headers={
        "Origin": SHOP, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,content-encoding"})
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == SHOP
    assert response.headers["access-control-allow-methods"] == "POST"
    assert set(response.headers["access-control-allow-headers"].split(",")) == {"content-type",
                                                                                "content-encoding"}
    assert int(response.headers["access-control-max-age"]) > 0
    wildcard = requests.options(adapter, timeout=10, headers={
        "Origin": "https://other.example", "Access-Control-Request-Method": "POST"})
    assert wildcard.headers["access-control-allow-origin"] == "https://other.example"


def test_cors_refused_for_other_origins_and_methods(adapter, s3):
    for origin, method in [("http://evil.example", "POST"), (SHOP, "DELETE")]:
        response = requests.options(adapter, timeout=10, headers={
            "Origin": origin, "Access-Control-Request-Method": method})
        assert response.status_code == 204
        assert "access-control-allow-origin" not in response.headers
    status, headers, _ = post(adapter, json.dumps(make_event()).encode(),
                              {"Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert status == 202  # the server takes it; the browser hides the answer from the page
    assert "access-control-allow-origin" not in headers


def test_options_without_preflight_headers_reaches_the_function(adapter):
    response = requests.options(adapter, timeout=10)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_other_methods_paths_and_sizes(adapter):
    response = requests.get(adapter, timeout=10, headers={"Origin": SHOP})
    assert response.status_code == 405 and "POST" in response.json()["message"]
    assert response.headers["access-control-allow-origin"] == SHOP
    assert requests.post(adapter.replace("/clickstream", "/other"), data=b"{}", timeout=10).status_code == 404
    response = requests.post(adapter, data=b"x" * (1024 * 1024 + 10), timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "1048576-byte" in response.json()["message"]


def test_payload_over_api_gateway_limit_is_refused_before_reading(adapter):
    host, port = adapter.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST /clickstream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 20000000\r\n\r\n")
        answer = conn.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413")
    assert "Request Entity Too Large" in answer


def test_event_shape_and_response_mapping():
    seen: list[dict] = []

    def fake_handler(event, context):
        seen.append(event)
        assert context.aws_request_id and context.get_remaining_time_in_millis() > 0
        return {"statusCode": 201, "headers": {"X-Custom": "1", "Access-Control-Allow-Origin": "*"},
                "cookies": ["a=1; Path=/", "b=2"], "body": base64.b64encode(b"\x00bin").decode(),
                "isBase64Encoded": True}

    server = serve("127.0.0.1", 0, handler=fake_handler, allowed_origins=SHOP)
    try:
        response = requests.post(server.url + "?x=1&x=2&y=", data=gzip.compress(b"{}"), timeout=10,
                                 headers={"Content-Encoding": "gzip", "X-Multi": "one",
                                          "Cookie": "sid=abc; theme=dark"})
    finally:
        server.stop()
    assert response.status_code == 201
    assert response.content == b"\x00bin"
    assert response.headers["x-custom"] == "1"
    assert "access-control-allow-origin" not in response.headers  # no Origin, and the function's is ignored
    assert response.cookies.get("b") == "2"
    (event,) = seen
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/clickstream"
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["cookies"] == ["sid=abc", "theme=dark"]
    assert "cookie" not in event["headers"]
    assert all(name == name.lower() for name in event["headers"])
    assert event["isBase64Encoded"] is True
    assert gzip.decompress(base64.b64decode(event["body"])) == b"{}"
    context = event["requestContext"]
    assert context["http"]["method"] == "POST"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["http"]["userAgent"].startswith("python-requests/")
    assert context["requestId"] and isinstance(context["timeEpoch"], int)


def test_duplicate_headers_are_comma_joined():
    event = build_event(method="POST", target="/clickstream", source_ip="192.0.2.1", body=b"{}",
                        headers=[("Accept", "a"), ("X-Forwarded-For", "1.1.1.1"), ("accept", "b"),
                                 ("Content-Type", "application/json")], now_ms=1_000)
    assert event["headers"] == {"accept": "a,b", "x-forwarded-for": "1.1.1.1",
                                "content-type": "application/json"}
    assert (event["body"], event["isBase64Encoded"]) == ("{}", False)
    assert event["requestContext"]["timeEpoch"] == 1_000
    binary = build_event(method="POST", target="/clickstream", source_ip="192.0.2.1", body=b"\xff",
                         headers=[("Content-Type", "text/plain")])
    assert (binary["body"], binary["isBase64Encoded"]) == ("/w==", True)
    empty = build_event(method="GET", target="/clickstream", source_ip="192.0.2.1", body=b"", headers=[])
    assert "body" not in empty


def test_a_crashing_handler_is_a_500_and_the_server_lives_on():
    def broken(event, context):
        raise RuntimeError("boom")

    server = serve("127.0.0.1", 0, handler=broken)
    try:
        for _ in range(2):
            response = requests.post(server.url, data=b"{}", timeout=10)
            assert response.status_code == 500
            assert response.json() == {"message": "Internal Server Error"}
    finally:
        server.stop()


@pytest.mark.parametrize("answer", [{"statusCode": "abc"},
                                    {"statusCode": 200, "body": "%%", "isBase64Encoded": True},
                                    {"statusCode": 200, "headers": ["not", "a", "dict"]}])
def test_a_malformed_function_response_is_a_500(answer):
    server = serve("127.0.0.1", 0, handler=lambda event, context: answer)
    try:
        response = requests.post(server.url, data=b"{}", timeout=10)
    finally:
        server.stop()
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


def test_a_plain_value_is_a_200_json_answer():
    server = serve("127.0.0.1", 0, handler=lambda event, context: {"ok": True})
    try:
        response = requests.post(server.url, data=b"{}", timeout=10)
    finally:
        server.stop()
    assert (response.status_code, response.json()) == (200, {"ok": True})


def test_cors_config_from_origins():
    assert CorsConfig.from_origins(None).allows("http://any.example")
    config = CorsConfig.from_origins("http://a.example/, https://*")
    assert config.allow_origins == ("http://a.example", "https://*")
    assert config.allows("HTTP://A.EXAMPLE") and config.allows("https://b.example")
    assert not config.allows("http://b.example")
    with pytest.raises(ValueError, match="at least one origin"):
        CorsConfig.from_origins(" , ")


def _cli_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "RAW_BUCKET"}
    env.update({"PYTHONPATH": str(REPO), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "ap-southeast-1"}, **extra)
    return env


def test_cli_needs_raw_bucket():
    result = subprocess.run([sys.executable, "-m", "localplatform.ingest_http", "--port", "0"],
                            capture_output=True, text=True, env=_cli_env(), cwd=REPO, timeout=60, check=False)
    assert result.returncode == 2
    assert "RAW_BUCKET is not set" in result.stderr


def test_cli_against_moto_server_honours_aws_endpoint_url(aws_env):
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto_server.start()
    try:
        host, port = moto_server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        import boto3  # noqa: PLC0415

        client = boto3.client("s3", endpoint_url=endpoint, region_name="ap-southeast-1")
        client.create_bucket(Bucket=BUCKET,
                             CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"})
        process = subprocess.Popen(
            [sys.executable, "-m", "localplatform.ingest_http", "--port", "0", "--allowed-origins", SHOP],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
            env=_cli_env(RAW_BUCKET=BUCKET, AWS_ENDPOINT_URL=endpoint))
        try:
            line = process.stdout.readline()
            assert line.startswith("ingest listening on http://127.0.0.1:"), line
            url = line.split(" on ")[1].strip()
            event = make_event()
            status, _, body = post(url, json.dumps(event).encode(), {"Content-Type": "text/plain"})
            assert (status, body) == (202, {"accepted": 1, "rejected": []})
            keys = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]]
            assert len(keys) == 1
            stored = client.get_object(Bucket=BUCKET, Key=keys[0])
            assert stored["ContentType"] == "application/x-ndjson"
            assert json.loads(stored["Body"].read())["event_id"] == event["event_id"]
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr
        assert "127.0.0.1 -" not in stderr  # the access log leaves client addresses out
    finally:
        moto_server.stop()

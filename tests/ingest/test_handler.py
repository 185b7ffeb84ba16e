"""The Lambda handler end to end against moto S3: responses, the raw object, the logs."""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import socket
import time
from collections.abc import Iterator

import pytest

from functions.ingest import handler as handler_module
from functions.ingest.handler import handler
from functions.ingest.raw_store import RAW_CONTENT_TYPE, S3RawSink, StoreError
from functions.ingest.request import UnsupportedEvent
from functions.schemas import ENRICHMENT_FIELDS, ENRICHMENT_VALIDATOR, EVENT_VALIDATOR
from tests.ingest.helpers import (
    BROWSER_UA,
    BUCKET,
    apigw_event,
    batch_body,
    make_event,
    stored_objects,
)

KEY_RE = re.compile(r"^events/2026/11/21/23/events-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                    r"[0-9a-f]{12}\.json$")


class LambdaContext:
    aws_request_id = "lambda-request-1"
    function_name = "ingest"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:ingest"


def call(event: dict) -> tuple[int, dict, dict]:
    response = handler(event, LambdaContext())
    assert response["isBase64Encoded"] is False
    assert response["headers"]["content-type"] == "application/json"
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def test_single_event_is_stored_as_one_line(s3):
    event = make_event("product_view")
    request = apigw_event(json.dumps(event))
    status, body, _ = call(request)
    assert (status, body) == (202, {"accepted": 1, "rejected": []})
    objects = stored_objects(s3)
    assert len(objects) == 1
    key, stored = objects.popitem()
    assert KEY_RE.match(key), key
    assert stored["content_type"] == RAW_CONTENT_TYPE
    assert stored["body"].endswith(b"\n")
    (line,) = stored["lines"]
    assert {k: v for k, v in line.items() if k not in ENRICHMENT_FIELDS} == event
    assert {k: v for k, v in line.items() if k in ENRICHMENT_FIELDS} == {
        "received_at": "2026-11-21T23:05:09.123Z",
        "ingest_request_id": request["requestContext"]["requestId"],
        "source_ip": "203.0.113.0",
        "user_agent": BROWSER_UA,
        "is_bot": False,
    }


def test_batch_partial_accept_writes_every_valid_line_in_one_object(s3):
    events = [make_event(), make_event("add_to_cart"), make_event(event_name="BAD"), make_event("purchase"),
              make_event(colour="red")]
    status, body, _ = call(apigw_event(batch_body(*events), headers={"content-type": "text/plain"},
                                       source_ip="2001:db8:1:2::3", user_agent="python-requests/2.32"))
    assert status == 202
    assert body["accepted"] == 3
    assert [r["index"] for r in body["rejected"]] == [2, 4]
    assert body["rejected"][0]["reason"].startswith("event_name:")
    assert "colour" in body["rejected"][1]["reason"]
    (stored,) = stored_objects(s3).values()
    assert len(stored["lines"]) == 3
    for line, sent in zip(stored["lines"], [events[0], events[1], events[3]], strict=True):
        client = {k: v for k, v in line.items() if k not in ENRICHMENT_FIELDS}
        assert client == sent and EVENT_VALIDATOR.is_valid(client)
        enrichment = {k: v for k, v in line.items() if k in ENRICHMENT_FIELDS}
        assert ENRICHMENT_VALIDATOR.is_valid(enrichment)
        assert enrichment["source_ip"] == "2001:db8:1::"
        assert enrichment["is_bot"] is True  # flagged, not dropped


def test_key_follows_the_receive_hour_in_utc(s3):
    event = make_event(event_timestamp="2025-12-31T23:59:00Z")
    call(apigw_event(json.dumps(event), time_epoch_ms=1_767_225_599_999))  # 2025-12-31T23:59:59.999Z
    call(apigw_event(json.dumps(event), time_epoch_ms=1_767_225_600_000))  # 2026-01-01T00:00:00.000Z
    keys = sorted(stored_objects(s3))
    assert [k.rsplit("/", 1)[0] for k in keys] == ["events/2025/12/31/23", "events/2026/01/01/00"]


def test_gzip_base64_beacon(s3):
    events = [make_event(), make_event("search")]
    body = base64.b64encode(gzip.compress(batch_body(*events).encode())).decode()
    status, result, _ = call(apigw_event(body, is_base64=True, headers={
        "content-type": "text/plain;charset=UTF-8", "content-encoding": "gzip"}))
    assert (status, result) == (202, {"accepted": 2, "rejected": []})
    assert [line["event_id"] for line in next(iter(stored_objects(s3).values()))["lines"]] == \
        [e["event_id"] for e in events]


def test_no_valid_event_is_400_and_nothing_is_written(s3):
    status, body, _ = call(apigw_event(json.dumps(make_event(event_id="x"))))
    assert status == 400
    assert body["accepted"] == 0
    assert body["message"].startswith("event rejected: event_id:")
    assert body["rejected"][0]["index"] == 0
    status, body, _ = call(apigw_event(batch_body({"a": 1}, {"b": 2})))
    assert status == 400
    assert body["message"] == "no valid event among 2"
    assert [r["index"] for r in body["rejected"]] == [0, 1]
    assert stored_objects(s3) == {}


@pytest.mark.parametrize(("kwargs", "status", "needle"), [
    ({"body": "{oops"}, 400, "not valid JSON"),
    ({"body": "{}", "method": "GET"}, 405, "POST"),
    ({"body": None, "method": "OPTIONS"}, 405, "POST"),
    ({"body": "{}", "headers": {"content-type": "application/xml"}}, 415, "application/xml"),
    ({"body": "{}", "headers": {"content-encoding": "br"}}, 415, "Content-Encoding"),
    ({"body": "x" * (1024 * 1024 + 1)}, 413, "1048576-byte"),
])
def test_refusals(s3, kwargs, status, needle):
    body = kwargs.pop("body")
    got_status, got_body, headers = call(apigw_event(body, **kwargs))
    assert got_status == status
    assert needle in got_body["message"]
    if status == 405:
        assert headers["allow"] == "POST"
    assert stored_objects(s3) == {}


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the handler's logger writes (its stream handler is bound to stdout at import)."""
    buffer = io.StringIO()
    stream_handler = handler_module.logger.registered_handler
    previous = stream_handler.setStream(buffer)
    yield buffer
    stream_handler.setStream(previous)


def test_answers_are_ascii_json_even_when_quoting_invalid_unicode(memory_sink):
    response = handler(apigw_event('{"events": ["\\ud800", "Bàn phím"]}'), LambdaContext())
    assert response["statusCode"] == 400
    assert response["body"].isascii()
    reasons = [r["reason"] for r in json.loads(response["body"])["rejected"]]
    assert reasons[0].startswith(r"(event): '\ud800' is not of type 'object'")  # escaped by repr
    assert "Bàn phím" in reasons[1]


def test_failed_put_is_503_with_retry_after_and_no_object(s3, log_output):
    s3.delete_bucket(Bucket=BUCKET)
    status, body, headers = call(apigw_event(json.dumps(make_event())))
    assert status == 503
    assert headers["retry-after"] == "5"
    assert "retry" in body["message"]
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"})
    assert stored_objects(s3) == {}
    log = json.loads(log_output.getvalue().strip().splitlines()[-1])
    assert log["level"] == "ERROR" and log["outcome"] == "store_failed"
    assert "NoSuchBucket" in log["error"]


def test_unreachable_endpoint_is_a_store_error(aws_env, monkeypatch):
    """Connection failures (botocore errors, not S3 answers) end in StoreError too, quickly."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(StoreError, match="PutObject s3://"):
        S3RawSink().put("events/x.json", b"{}\n")
    assert time.monotonic() - started < 8


def test_missing_raw_bucket_setting_is_a_store_error(monkeypatch):
    monkeypatch.delenv("RAW_BUCKET", raising=False)
    with pytest.raises(StoreError, match="RAW_BUCKET is not set"):
        S3RawSink().put("events/x.json", b"{}\n")


def test_unsupported_event_raises_so_lambda_reports_it(memory_sink):
    with pytest.raises(UnsupportedEvent):
        handler({"httpMethod": "POST", "body": "{}"}, LambdaContext())
    assert memory_sink.objects == {}


def test_logs_are_structured_and_carry_no_personal_data(memory_sink, log_output):
    secret_user = "cognito-sub-5b1e"
    events = [make_event(user_id=secret_user, user_login_state="logged_in"), make_event(event_name="BAD")]
    request = apigw_event(batch_body(*events), source_ip="198.51.100.23")
    status, _, _ = call(request)
    assert status == 202
    out = log_output.getvalue()
    record = json.loads(out.strip().splitlines()[-1])
    assert record["level"] == "INFO"
    assert record["service"] == "clickstream-ingest"
    assert record["ingest_request_id"] == request["requestContext"]["requestId"]
    assert record["lambda_request_id"] == "lambda-request-1"
    assert (record["status"], record["accepted"], record["rejected"]) == (202, 1, 1)
    assert isinstance(record["latency_ms"], float) and record["latency_ms"] >= 0
    assert record["object_key"] in memory_sink.objects
    for private in (secret_user, "198.51.100", events[0]["event_id"], "client-42", "session-7", "Mozilla",
                    "shop.example"):
        assert private not in out


def test_handler_module_imports_without_boto3_or_python_jsonschema():
    """boto3 loads on the first put, python-jsonschema on the first invalid event: not at cold start."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = ("import sys, functions.ingest.handler; "
            "print('boto3' in sys.modules, 'botocore.client' in sys.modules, 'jsonschema' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=handler_module.__file__.rsplit("/functions/", 1)[0]).stdout
    assert out.split() == ["False", "False", "False"]

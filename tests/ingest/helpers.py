"""Builders shared by the ingest tests: payload 2.0 events, valid clickstream events, sinks."""

from __future__ import annotations

import json
import uuid

from tests.support.events import client_event as make_event  # noqa: F401 - the ingest tests' name for it

BUCKET = "clickstream-s3-ingest-test"
#: 2026-11-21T23:05:09.123Z (the events of make_event are seven hours earlier, UTC)
TIME_EPOCH_MS = 1_795_302_309_123
BROWSER_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")


def apigw_event(body: str | None = None, *, method: str = "POST", headers: dict | None = None,
                is_base64: bool = False, time_epoch_ms: int = TIME_EPOCH_MS,
                source_ip: str = "203.0.113.77", user_agent: str | None = BROWSER_UA) -> dict:
    """A payload 2.0 event as API Gateway sends it (headers lowercased)."""
    all_headers = {"content-type": "application/json", "host": "api.example"}
    if user_agent is not None:
        all_headers["user-agent"] = user_agent
    all_headers.update(headers or {})
    event = {
        "version": "2.0",
        "routeKey": "ANY /clickstream",
        "rawPath": "/clickstream",
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "http": {"method": method, "path": "/clickstream", "protocol": "HTTP/1.1",
                     "sourceIp": source_ip, "userAgent": user_agent},
            "requestId": "req-" + uuid.uuid4().hex[:12],
            "routeKey": "ANY /clickstream",
            "stage": "$default",
            "timeEpoch": time_epoch_ms,
        },
        "isBase64Encoded": is_base64,
    }
    if user_agent is None:
        del event["requestContext"]["http"]["userAgent"]
    if body is not None:
        event["body"] = body
    return event


def batch_body(*events) -> str:
    return json.dumps({"events": list(events)})


class MemorySink:
    """The bucket write replaced at its boundary: keeps objects in a dict, or fails on demand."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, body: bytes) -> None:
        self.objects[key] = body

    def lines(self) -> list[dict]:
        return [json.loads(line) for body in self.objects.values() for line in body.splitlines()]


def stored_objects(client) -> dict[str, dict]:
    """Every object in the raw bucket: key -> {"content_type", "lines"}."""
    objects = {}
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        got = client.get_object(Bucket=BUCKET, Key=item["Key"])
        body = got["Body"].read()
        objects[item["Key"]] = {"content_type": got["ContentType"], "body": body,
                                "lines": [json.loads(line) for line in body.splitlines()]}
    return objects

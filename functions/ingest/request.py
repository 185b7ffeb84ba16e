"""The parts of an API Gateway HTTP API (payload format 2.0) event that ingest uses."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

#: Request body at most 1 MiB after base64 and gzip decoding (the event contract).
MAX_BODY_BYTES = 1024 * 1024
#: One event at most 32 KiB, measured as its compact UTF-8 JSON encoding.
MAX_EVENT_BYTES = 32 * 1024
#: A batch holds 1 to 500 events.
MAX_EVENTS = 500
# requestContext.timeEpoch outside [1970, 10000) cannot be a receive time; the clock is used instead.
_YEAR_10000_MS = 253_402_300_800_000


class RequestError(Exception):
    """The request is refused as a whole with an HTTP status and a message for the client.

    ``code`` is a short, fixed label for logs (the message may quote client data; logs must not).
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class UnsupportedEvent(ValueError):
    """The Lambda event is not an HTTP API payload 2.0 event: a deployment error, not a client one."""


@dataclass(frozen=True, slots=True)
class IngestRequest:
    method: str
    content_type: str | None
    content_encoding: str | None
    body: str | None
    is_base64_encoded: bool
    source_ip: str | None
    user_agent: str | None
    request_id: str
    time_epoch_ms: int


def parse_apigw_v2(event: dict, fallback_request_id: str | None = None) -> IngestRequest:
    """Read the fields ingest needs from a payload 2.0 event (headers are already lowercased)."""
    if not isinstance(event, dict) or event.get("version") != "2.0":
        version = event.get("version") if isinstance(event, dict) else type(event).__name__
        raise UnsupportedEvent(
            f"expected an API Gateway HTTP API payload format 2.0 event, got version {version!r}"
        )
    apigw = APIGatewayProxyEventV2(event)
    try:
        context = apigw.request_context
        http = context.http
        method = http.method
        request_id = context.get("requestId") or fallback_request_id
        time_epoch_ms = context.get("timeEpoch")
        source_ip = http.get("sourceIp")
        user_agent = http.get("userAgent")
        headers = apigw.headers
    except (KeyError, TypeError, AttributeError) as exc:
        raise UnsupportedEvent(f"payload 2.0 event without requestContext.http.method: {exc!r}") from exc
    if type(time_epoch_ms) is not int or not 0 <= time_epoch_ms < _YEAR_10000_MS:
        time_epoch_ms = time.time_ns() // 1_000_000
    body = apigw.body
    return IngestRequest(
        method=str(method).upper(),
        content_type=_str_or_none(headers.get("content-type")),
        content_encoding=_str_or_none(headers.get("content-encoding")),
        body=body if isinstance(body, str) else None,
        is_base64_encoded=apigw.is_base64_encoded is True,
        source_ip=_str_or_none(source_ip),
        user_agent=_str_or_none(user_agent if user_agent is not None else headers.get("user-agent")),
        request_id=str(request_id) if request_id else str(uuid.uuid4()),
        time_epoch_ms=time_epoch_ms,
    )


def _str_or_none(value) -> str | None:
    return value if isinstance(value, str) else None


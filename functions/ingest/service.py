"""POST /clickstream as a plain function: request in, outcome (status, body, counts) out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from functions.ingest.body import parse_events
from functions.ingest.enrich import enrichment
from functions.ingest.events import build_batch, to_json_lines
from functions.ingest.raw_store import RawSink, StoreError
from functions.ingest.request import IngestRequest, RequestError
from functions.raw_layout import object_key

#: Seconds a client should wait before retrying after a failed bucket write.
RETRY_AFTER_SECONDS = 5


@dataclass(slots=True)
class Outcome:
    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)
    #: short fixed label for logs: "accepted", or why the request was refused
    code: str = "accepted"
    accepted: int = 0
    rejected: int = 0
    object_key: str | None = None
    #: for the operator's log only (never client data): why the bucket write failed
    detail: str | None = None


def refuse(error: RequestError) -> Outcome:
    headers = {"allow": "POST"} if error.status == 405 else {}
    return Outcome(error.status, {"message": error.message}, headers, code=error.code)


def ingest(request: IngestRequest, sink: RawSink) -> Outcome:
    """Validate, enrich and store the request's events; 202 only once the raw object exists."""
    if request.method != "POST":
        return refuse(RequestError(405, "method_not_allowed",
                                   f"method {request.method[:16]} not allowed: POST events to /clickstream"))
    try:
        events = parse_events(request)
    except RequestError as error:
        return refuse(error)
    batch = build_batch(events, enrichment(time_epoch_ms=request.time_epoch_ms,
                                           request_id=request.request_id,
                                           source_ip=request.source_ip,
                                           user_agent=request.user_agent))
    if not batch.lines:
        message = ("event rejected: " + batch.rejected[0]["reason"] if len(events) == 1
                   else f"no valid event among {len(events)}")
        return Outcome(400, {"message": message, "accepted": 0, "rejected": batch.rejected},
                       code="no_valid_event", rejected=len(batch.rejected))
    key = object_key(datetime.fromtimestamp(request.time_epoch_ms // 1000, UTC))
    try:
        sink.put(key, to_json_lines(batch.lines))
    except StoreError as exc:
        return Outcome(503, {"message": "could not store the events; retry later"},
                       {"retry-after": str(RETRY_AFTER_SECONDS)}, code="store_failed",
                       accepted=0, rejected=len(batch.rejected), object_key=key, detail=str(exc))
    return Outcome(202, {"accepted": batch.accepted, "rejected": batch.rejected},
                   accepted=batch.accepted, rejected=len(batch.rejected), object_key=key)

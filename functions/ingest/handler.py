"""Lambda Ingest: API Gateway HTTP API (payload 2.0) ``POST /clickstream`` -> raw bucket.

Env: RAW_BUCKET (required), AWS_ENDPOINT_URL (emulators), POWERTOOLS_LOG_LEVEL.
One structured log line per request: request ids, status, counts, latency; never bodies,
IP addresses, user agents or user ids.
"""

from __future__ import annotations

import json
import time

from aws_lambda_powertools import Logger

from functions.ingest.raw_store import RawSink, S3RawSink
from functions.ingest.request import parse_apigw_v2
from functions.ingest.service import Outcome, ingest

logger = Logger(service="clickstream-ingest")
#: The bucket writer; replaced at this boundary by tests and the benchmark.
sink: RawSink = S3RawSink()


def to_apigw_response(outcome: Outcome) -> dict:
    """The payload 2.0 response: status, JSON body, headers."""
    headers = {"content-type": "application/json", "cache-control": "no-store", **outcome.headers}
    return {
        "statusCode": outcome.status,
        "headers": headers,
        # ASCII JSON: reasons may quote client strings, even invalid ones such as lone surrogates.
        "body": json.dumps(outcome.body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def handler(event: dict, context) -> dict:
    started = time.perf_counter()
    request = parse_apigw_v2(event, fallback_request_id=getattr(context, "aws_request_id", None))
    outcome = ingest(request, sink)
    fields = {
        "ingest_request_id": request.request_id,
        "lambda_request_id": getattr(context, "aws_request_id", None),
        "status": outcome.status,
        "outcome": outcome.code,
        "accepted": outcome.accepted,
        "rejected": outcome.rejected,
        "body_chars": len(request.body or ""),
        "object_key": outcome.object_key,
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    if outcome.status >= 500:
        logger.error("clickstream request not stored", extra={**fields, "error": outcome.detail})
    else:
        logger.info("clickstream request", extra=fields)
    return to_apigw_response(outcome)

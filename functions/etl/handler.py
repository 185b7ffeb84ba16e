"""Lambda ETL entry point: the hourly EventBridge schedule, or a manual backfill.

Event: EventBridge's scheduled event ("detail-type": "Scheduled Event") loads what is new
since the last loaded hour (less the lookback); {"since": "<ISO>", "until": "<ISO>"}
(until optional) reloads the objects of that window that the manifest lacks.
"""

from __future__ import annotations

import logging
import time

from functions.etl import metrics
from functions.etl.config import Settings
from functions.etl.runner import run
from functions.etl.window_args import parse_window

logging.getLogger().setLevel(logging.INFO)
log = logging.getLogger(__name__)

# Stop starting new batches this long before Lambda's timeout; a batch then still has time.
SAFETY_MARGIN_S = 120


def handler(event, context):
    settings = Settings.from_env()
    event = event or {}
    manual = "since" in event or "until" in event
    since, until = parse_window(event.get("since"), event.get("until")) if manual else (None, None)
    deadline = None
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_S
    summary = None
    try:
        summary = run(settings, since, until, trigger="manual" if manual else "scheduled", deadline=deadline)
    finally:   # freshness is published by failed runs too: the alarms must see them
        metrics.publish(settings, summary)
    log.info("etl summary: %s", summary)
    return summary

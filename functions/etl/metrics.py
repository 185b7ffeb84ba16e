"""The ETL's CloudWatch metrics, as one embedded-metric-format (EMF) line in the function's log
per invocation: CloudWatch turns it into metrics, no PutMetricData call (and no route to the
CloudWatch API) needed from the private subnet. Namespace ``Clickstream/ETL``, dimension
``Environment`` (PLATFORM_ENV); the monitoring stack alarms on the freshness ones.
"""

from __future__ import annotations

import json
import logging
import os
import time
from importlib.resources import files

from functions.etl import warehouse
from functions.etl.config import Settings, dwh_password

log = logging.getLogger(__name__)

NAMESPACE = "Clickstream/ETL"
DIMENSION = "Environment"
FRESHNESS = (files("functions.etl") / "sql" / "freshness.sql").read_text(encoding="utf-8")
#: name -> unit, in the order the line lists them
METRICS = {"NewestLoadedHourAgeSeconds": "Seconds", "SecondsSinceLastSuccess": "Seconds",
           "OpenAnomalies": "Count", "EventsLoaded": "Count", "RejectedLines": "Count", "RunFailed": "Count"}


def emf_line(environment: str, values: dict[str, float | None], timestamp_ms: int | None = None) -> str:
    """One EMF record of the metrics in `values` that have a value (None: not published)."""
    present = {name: value for name, value in values.items() if value is not None}
    return json.dumps({
        "_aws": {"Timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
                 "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [[DIMENSION]],
                                        "Metrics": [{"Name": n, "Unit": METRICS[n]} for n in METRICS
                                                    if n in present]}]},
        DIMENSION: environment, **present}, separators=(",", ":"))


def freshness(conn) -> dict[str, float | None]:
    with conn.cursor() as cur:
        cur.execute(FRESHNESS)
        age, since_success, open_anomalies = cur.fetchone()
    return {"NewestLoadedHourAgeSeconds": None if age is None else round(float(age)),
            "SecondsSinceLastSuccess": None if since_success is None else round(float(since_success)),
            "OpenAnomalies": open_anomalies}


def publish(settings: Settings, summary: dict | None, *, emit=print) -> str | None:
    """Reads the freshness figures and emits the run's EMF line (`summary` None: the run failed).
    Never raises: a run's outcome must not depend on its metrics; a failure is logged."""
    values: dict[str, float | None] = {"RunFailed": 0 if summary is not None else 1}
    if summary is not None and summary.get("status") == "succeeded":
        values.update(EventsLoaded=summary.get("events_loaded"), RejectedLines=summary.get("rejected"))
    try:
        conn = warehouse.connect(settings, dwh_password(settings))
        try:
            values.update(freshness(conn))
        finally:
            conn.close()
    except Exception as exc:
        log.warning("freshness metrics not read: %s: %s", type(exc).__name__, exc)
    line = emf_line(os.environ.get("PLATFORM_ENV", "local"), values)
    emit(line)
    return line

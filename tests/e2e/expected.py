"""Expected figures for the end-to-end tests, from the raw events actually in the bucket.

The raw objects the demo's ingest wrote are read back (plain JSON, as
tests/support/acquisition.raw_records reads a line) and the one plain-Python oracle of
tests/support computes what the dashboards must show from them: sessions
(acquisition.build_sessions), the activity and funnel figures (overview.activity), the
data-quality metrics, verdicts and restatements (quality.py). A lost or duplicated event is a
difference between the bucket and the warehouse. What only the demo's records know - what was
*sent* by the traffic generator and by the shop walk's browser (localplatform/demo/walk.py), the
shop's orders - is kept for a separate check that the bucket holds what was sent.
"""

from __future__ import annotations

import gzip
from datetime import date, datetime, timedelta

import boto3

from functions.raw_layout import PREFIX
from localplatform import traffic
from tests.support import quality
from tests.support.acquisition import event_time, raw_records, unique_events
from tests.support.aggregates import recompute
from tests.support.overview import activity

# ---------------------------------------------------------------- the raw bucket


def bucket_lines(endpoint: str, bucket: str) -> list[bytes]:
    """Every line of every raw object in the bucket (an S3 emulator's: dummy credentials)."""
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    lines: list[bytes] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            if item["Key"].endswith(".gz"):
                body = gzip.decompress(body)
            lines += [line for line in body.splitlines() if line.strip()]
    return lines


def bucket_records(endpoint: str, bucket: str) -> list[dict]:
    return raw_records(bucket_lines(endpoint, bucket))


def _received(r: dict) -> datetime:
    return traffic.parse_ts(r["received_at"])


def _floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def date_range(records: list[dict]) -> tuple[date, date]:
    """The UTC days the raw events' times span."""
    days = [event_time(r).date() for r in records]
    return min(days), max(days)


def late_batch(records: list[dict], late: dict | None) -> tuple[list[dict], list[dict]]:
    """(on-time records, the late batch's): the late batch is what ingest received from the
    moment it was sent on (the demo's record says when: late.delivered.sent_from)."""
    if not late or not late.get("delivered"):
        return records, []
    sent_from = traffic.parse_ts(late["delivered"]["sent_from"])
    return ([r for r in records if _received(r) < sent_from],
            [r for r in records if _received(r) >= sent_from])


def bot_events(records: list[dict]) -> int:
    """Events of bot sessions (each event id once): what the dashboards leave out."""
    agg = recompute(records)
    return sum(agg["sessions"][r["session_id"]]["is_bot"] for r in unique_events(records).values())


# ---------------------------------------------------------------- data quality

def expected_anomalies(records: list[dict], late: dict | None, knobs: dict, metrics: dict,
                       judged_before: datetime | None = None) -> dict:
    """{(hour, metric): verdict} for every hour the demo's ETL runs judged last: an hour's last
    judgement is in the run that loaded its last events, so the hours of the late batch (its
    events' hours, and the raw hours it was received in) are judged with it, every other hour
    without it (their baselines were complete when they were judged). A run judges only the
    hours that ended by its window end: an hour ending after `judged_before` (the last run's) is
    still queued, not judged (the walk's hour, say). The metrics are quality.hourly_metrics'."""
    on_time_records, late_records = late_batch(records, late)
    on_time, full = quality.hourly_metrics(on_time_records), quality.hourly_metrics(records)
    late_hours = {_floor(event_time(r)) for r in late_records} | {_floor(_received(r)) for r in late_records}

    def first(by_hour: dict) -> datetime:   # the warehouse's first data hour: non-bot activity's
        return min(h for h, m in by_hour.items() if m["events"][0] > 0)

    out = {}
    for hour in full.keys() | late_hours:
        if judged_before is not None and hour + timedelta(hours=1) > judged_before:
            continue
        by_hour = full if hour in late_hours else on_time
        for metric, cfg in metrics.items():
            verdict = quality.judge(by_hour, hour, metric, first_data_hour=first(by_hour), knobs=knobs, **cfg)
            if verdict is not None:
                out[(hour, metric)] = verdict
    return out


def expected_restatements(records: list[dict], late: dict | None) -> list[tuple[str, str, float, float]]:
    """(day, "table.figure", before, after) of each daily figure the late batch's run changed on a
    day before the raw hours it loaded: the recomputation without the late batch and with it
    (quality.restatements, the ledger's rule)."""
    on_time, late_records = late_batch(records, late)
    if not late_records:
        return []
    own_from = min(_floor(_received(r)) for r in late_records)
    return [(day.isoformat(), f"{table}.{figure}", before, after) for day, table, figure, before, after
            in quality.restatements(recompute(on_time), recompute(records), own_from)]


# ---------------------------------------------------------------- what was sent (the records)

def sent(rec: dict, walk: dict | None) -> dict:
    """What the traffic generator and the shop walk sent, added up: events (valid, human, bot),
    human sessions; the shop's orders (which only the records know)."""
    out = {name: rec["sent"][name] + (walk or {"sent": {}})["sent"].get(name, 0)
           for name in ("events", "valid_events", "human_events", "bot_events")}
    out["sessions"] = rec["sessions"]["human"] + (walk or {"sessions": {}})["sessions"].get("human", 0)
    shop, more = rec["shop_orders"], (walk or {}).get("shop_orders")
    orders = {k: shop[k] + (more or {}).get(k, 0) for k in ("orders", "booked_orders", "ad_blocked_orders",
                                                            "untracked_orders", "forged_purchases")}
    orders["booked_revenue"] = round(shop["booked_revenue"] + (more or {}).get("booked_revenue", 0), 2)
    booked = orders["booked_orders"]
    orders["coverage"] = (booked - orders["untracked_orders"]) / booked if booked else None
    out["shop_orders"] = orders
    return out


def assert_bucket_holds_what_was_sent(records: list[dict], rec: dict, walk: dict | None) -> None:
    """Every event the generator and the walk sent is in the bucket once: none lost, none twice,
    the human and bot ones as sent, every event id the walk's browser made."""
    total = sent(rec, walk)
    events = unique_events(records)
    assert len(events) == len(records) == total["valid_events"]
    bots = bot_events(records)
    assert (len(events) - bots, bots) == (total["human_events"], total["bot_events"])
    assert {e["event_id"].lower() for e in (walk or {"events": []})["events"]} <= events.keys()
    assert activity(records, *date_range(records))["sessions"] == total["sessions"]

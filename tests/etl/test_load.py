"""End to end through real PostgreSQL and an S3 emulator: load, rerun, duplicates, late events,
bad input, and sessions/aggregates against a plain-Python recomputation."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import EndpointConnectionError

from functions.etl.runner import FetchFailed, run
from tests.etl.support import (
    event_ids,
    make_session,
    make_traffic,
    put_by_hour,
    put_object,
    recompute,
    warehouse_state,
)

START = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 3, 30, tzinfo=UTC)


def etl(settings, s3, **kwargs):
    kwargs.setdefault("now", NOW)
    return run(settings, s3=s3, **kwargs)


def assert_matches_recomputation(dw, records):
    expected, actual = recompute(records), warehouse_state(dw)
    assert actual["sessions"].keys() == expected["sessions"].keys()
    for sid, want in expected["sessions"].items():
        got = actual["sessions"][sid]
        assert {k: got[k] for k in want} == want, sid
    assert actual["funnel"] == expected["funnel"]
    assert actual["hourly"] == expected["hourly"]
    assert actual["product"] == expected["product"]


def test_happy_path_then_rerun_loads_nothing(settings, s3, bucket, dw):
    records = make_traffic(seed=1, start=START, sessions=120, spread=timedelta(hours=4))
    keys = put_by_hour(s3, bucket, records, per_object=40)
    summary = etl(settings, s3)
    assert summary["status"] == "succeeded"
    assert (summary["files"], summary["events_loaded"], summary["duplicates"], summary["rejected"]) == (
        len(keys), len(records), 0, 0)
    assert summary["sessions_touched"] == len({r["session_id"] for r in records})
    assert event_ids(dw) == {r["event_id"] for r in records}
    assert_matches_recomputation(dw, records)
    with dw.cursor() as cur:
        cur.execute("SELECT status, files, events_loaded, error FROM etl_runs")
        assert cur.fetchall() == [("succeeded", len(keys), len(records), None)]
        cur.execute("SELECT count(*), sum(events) FROM etl_file_manifest")
        assert cur.fetchone() == (len(keys), len(records))

    again = etl(settings, s3)
    assert (again["status"], again["files"], again["events_loaded"]) == ("succeeded", 0, 0)
    assert len(event_ids(dw)) == len(records)


def test_one_event_in_two_files_is_loaded_once(settings, s3, bucket, dw):
    session = make_session(random.Random(7), START + timedelta(minutes=5), depth=5)
    hour = START
    put_object(s3, bucket, hour, session)
    put_object(s3, bucket, hour, session[:2])          # a retried request: same events again
    summary = etl(settings, s3)
    assert (summary["events_loaded"], summary["duplicates"]) == (len(session), 2)
    assert len(event_ids(dw)) == len(session)
    # And again in a later run (against the table, not only within the batch).
    put_object(s3, bucket, hour, session[-1:])
    later = etl(settings, s3)
    assert (later["files"], later["events_loaded"], later["duplicates"]) == (1, 0, 1)
    assert_matches_recomputation(dw, session)


def test_late_event_updates_its_session_and_day(settings, s3, bucket, dw):
    rng = random.Random(11)
    session = make_session(rng, START + timedelta(minutes=10), depth=5, logged_in=False)
    first_part, late = session[:-1], session[-1]       # the purchase arrives late
    put_object(s3, bucket, START, first_part)
    etl(settings, s3)
    with dw.cursor() as cur:
        cur.execute("SELECT purchased, events FROM sessions")
        assert cur.fetchone() == (False, len(first_part))
        cur.execute("SELECT sessions_purchase, revenue FROM agg_funnel_daily")
        assert cur.fetchone() == (0, 0)
    # Received two hours later: lands in a later hour prefix, still inside the lookback window.
    put_object(s3, bucket, START + timedelta(hours=2), [late])
    summary = etl(settings, s3)
    assert (summary["files"], summary["events_loaded"], summary["sessions_touched"]) == (1, 1, 1)
    with dw.cursor() as cur:
        cur.execute("SELECT purchased, events, orders FROM sessions")
        assert cur.fetchone() == (True, len(session), 1)
        cur.execute("SELECT sessions_purchase FROM agg_funnel_daily")
        assert cur.fetchone() == (1,)
    assert_matches_recomputation(dw, session)


class FailingS3:
    """The real client, except that reading one key fails as a network error would."""

    def __init__(self, s3, bad_key: str):
        self._s3, self._bad_key = s3, bad_key

    def __getattr__(self, name):
        return getattr(self._s3, name)

    def get_object(self, **kwargs):
        if kwargs["Key"] == self._bad_key:
            raise EndpointConnectionError(endpoint_url="https://s3.example/")
        return self._s3.get_object(**kwargs)


def test_s3_read_failure_rolls_the_batch_back_and_the_next_run_catches_up(settings, s3, bucket, dw):
    records = make_traffic(seed=4, start=START, sessions=30, spread=timedelta(hours=1))
    keys = put_by_hour(s3, bucket, records, per_object=20)
    with pytest.raises(FetchFailed, match=f"reading s3://{bucket}/{keys[-1]} failed: Could not connect"):
        etl(settings, FailingS3(s3, keys[-1]))
    assert event_ids(dw) == set()
    with dw.cursor() as cur:
        cur.execute("SELECT status, error LIKE 'FetchFailed: reading s3://%%' FROM etl_runs")
        assert cur.fetchall() == [("failed", True)]
        cur.execute("SELECT count(*) FROM etl_file_manifest")
        assert cur.fetchone() == (0,)
    summary = etl(settings, s3)
    assert (summary["files"], summary["events_loaded"]) == (len(keys), len(records))
    assert_matches_recomputation(dw, records)

"""End to end through real PostgreSQL and an S3 emulator: load, rerun, duplicates, late events,
bad input, and sessions/aggregates against a plain-Python recomputation."""

from __future__ import annotations

import dataclasses
import json
import random
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from botocore.exceptions import EndpointConnectionError

from functions.etl import pipeline
from functions.etl.raw_bucket import FetchFailed
from functions.etl.runner import run
from tests.etl.support import (
    event_ids,
    iso,
    make_session,
    make_traffic,
    put_by_hour,
    put_object,
    warehouse_state,
)
from tests.support.aggregates import recompute

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
    assert actual["daily"] == expected["daily"]
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


def test_late_events_change_sessions_and_aggregates_as_a_recomputation_would(settings, s3, bucket, dw):
    """Aggregates are updated by the touched sessions' change, not recomputed: late events that
    add to a session, turn it into a bot session, rename a product or move its start to the
    previous day must leave exactly what a recomputation from all the raw lines gives."""
    rng = random.Random(2323)   # not the traffic seed: its event ids would repeat
    records = make_traffic(seed=23, start=START, sessions=60, spread=timedelta(hours=3), bot_share=0.1)
    sessions: dict[str, list[dict]] = {}
    for record in records:
        sessions.setdefault(record["session_id"], []).append(record)
    held_back, late = [], []
    for index, events in enumerate(sessions.values()):
        def copy_of(event: dict, **changes) -> dict:
            return {**event, "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), **changes}

        if index % 3 == 0 and len(events) > 1:
            held_back.append(events[-1])                                   # simply late
        elif index % 5 == 1:
            late.append(copy_of(events[0], is_bot=True, user_agent="Googlebot/2.1"))   # turns bot
        elif index % 5 == 2:
            views = [e for e in events if e["event_name"] == "product_view"]
            if views:
                product = {**views[-1]["context"]["product"], "name": "Renamed product"}
                late.append(copy_of(views[-1], context={"product": product},
                                    event_timestamp=iso_after(events[-1]["event_timestamp"], seconds=1)))
        elif index % 5 == 3:
            earlier = iso_after(events[0]["event_timestamp"], hours=-23)          # previous day
            late.append(copy_of(events[0], event_timestamp=earlier))
    on_time = [r for r in records if r not in held_back]
    put_by_hour(s3, bucket, on_time, per_object=30)
    etl(settings, s3)
    assert_matches_recomputation(dw, on_time)

    put_object(s3, bucket, START + timedelta(hours=3), held_back + late)
    summary = etl(settings, s3)
    assert (summary["events_loaded"], summary["rejected"]) == (len(held_back) + len(late), 0), summary
    assert len(late) > 10 and held_back
    assert_matches_recomputation(dw, records + late)
    # The moved starts reach the previous day and the bot flips empty some users out of a day:
    # the daily table is recomputed for every day those sessions' events touch.
    assert len(recompute(records + late)["daily"]) >= 2


def iso_after(timestamp: str, **delta) -> str:
    moment = datetime.fromisoformat(timestamp) + timedelta(**delta)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.timeout(180, method="thread")    # a lock cycle between the lanes would hang, not fail
def test_two_lanes_load_one_batch_per_object_with_duplicates_across_batches(settings, s3, bucket, dw):
    """Two connections load alternate batches (one object each here): a session spread over
    many batches, and events repeated in neighbouring batches, still end exactly once and as a
    recomputation gives; the run's counters add up over both lanes."""
    lanes = dataclasses.replace(settings, batch_max_files=1, lanes=2)
    records = make_traffic(seed=31, start=START, sessions=50, spread=timedelta(hours=2))
    keys = put_by_hour(s3, bucket, records, per_object=15)
    repeated = 0
    rng = random.Random(31)
    for _ in range(6):      # retried requests: events already in other objects, same hours
        again = rng.sample(records, 8)
        put_object(s3, bucket, START + timedelta(hours=rng.randint(0, 1)), again)
        repeated += len(again)
    summary = etl(lanes, s3)
    assert summary["status"] == "succeeded"
    assert (summary["files"], summary["events_loaded"], summary["duplicates"]) == (
        len(keys) + 6, len(records), repeated)
    assert summary["sessions_touched"] >= len({r["session_id"] for r in records})
    assert event_ids(dw) == {r["event_id"] for r in records}
    assert_matches_recomputation(dw, records)
    with dw.cursor() as cur:
        cur.execute("SELECT files, events_loaded, duplicates FROM etl_runs")
        assert cur.fetchall() == [(len(keys) + 6, len(records), repeated)]


def test_two_lanes_a_failed_batch_keeps_only_the_batches_before_it(settings, s3, bucket, dw):
    lanes = dataclasses.replace(settings, batch_max_files=1, lanes=2)
    records = make_traffic(seed=32, start=START, sessions=40, spread=timedelta(hours=2))
    keys = sorted(put_by_hour(s3, bucket, records, per_object=10))
    bad = keys[3]
    with pytest.raises(FetchFailed, match=f"reading s3://{bucket}/{bad} failed"):
        etl(lanes, FailingS3(s3, bad))
    with dw.cursor() as cur:
        cur.execute("SELECT key FROM etl_file_manifest ORDER BY key")
        loaded = [r[0] for r in cur.fetchall()]
    assert loaded == keys[:len(loaded)] and 1 <= len(loaded) <= 3    # a prefix, the failed one not in it
    by_key = {key: json_lines(s3, bucket, key) for key in keys}
    loaded_records = [r for key in loaded for r in by_key[key]]
    assert event_ids(dw) == {r["event_id"] for r in loaded_records}
    assert_matches_recomputation(dw, loaded_records)
    summary = etl(lanes, s3)
    assert (summary["files"], summary["events_loaded"]) == (len(keys) - len(loaded),
                                                            len(records) - len(loaded_records))
    assert_matches_recomputation(dw, records)


def json_lines(s3, bucket: str, key: str) -> list[dict]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return [json.loads(line) for line in body.splitlines() if line.strip()]


# Without the insert order the two lanes wait for each other forever (a PostgreSQL row lock one
# way, a Python event the other): "thread" ends the whole session with both stacks printed.
@pytest.mark.timeout(60, method="thread")
def test_two_lanes_a_later_batch_repeating_an_earlier_ones_last_event_does_not_deadlock(
        settings, s3, bucket, dw):
    lanes = dataclasses.replace(settings, batch_max_files=1, lanes=2)
    records = make_traffic(seed=33, start=START + timedelta(minutes=1), sessions=1500,
                           spread=timedelta(minutes=50))
    last = records[-1]
    put_object(s3, bucket, START, records, name="a-big.json")       # batch 1: last event inserted last
    put_object(s3, bucket, START, [last], name="b-retry.json")      # batch 2: the same event, at once
    summary = etl(lanes, s3)
    assert (summary["files"], summary["events_loaded"], summary["duplicates"]) == (2, len(records), 1)
    assert_matches_recomputation(dw, records)


def awkward_traffic(seed: int, sessions: int) -> list[dict]:
    """Sessions that test every session rule: events sharing a timestamp (event_id decides),
    written out of order, some without a page, path or referrer, a user id that appears and
    changes, a second client id, a bot event late in the session, epoch-ms and offset
    timestamps, an hour and a day boundary, orders repeating a product or listing none."""
    rng = random.Random(seed)
    base = datetime(2026, 11, 20, 23, 40, tzinfo=UTC)
    india = timezone(timedelta(hours=5, minutes=30))
    records = []
    for n in range(sessions):
        sid, clients = f"s-awk-{n}", [f"c-{n}-a", f"c-{n}-b"]
        start = base + timedelta(minutes=rng.randint(0, 40), milliseconds=rng.randint(0, 999))
        for i in range(rng.randint(1, 12)):
            at = start + timedelta(seconds=rng.choice([0, 0, 1, 7, 30 * i, 600 * i]))
            name = rng.choice(["page_view", "page_view", "product_view", "add_to_cart", "begin_checkout",
                               "purchase", "search"])
            user = rng.choice([None, None, f"u-{n}", f"u-{n}-other"])
            record = {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "event_timestamp": rng.choice([iso(at), int(at.timestamp() * 1000),
                                               at.astimezone(india).isoformat(timespec="milliseconds")]),
                "event_name": name, "user_id": user, "user_login_state": "logged_in" if user else "guest",
                "client_id": rng.choice(clients) if i else clients[0], "session_id": sid,
                "is_first_visit": rng.random() < 0.2,
                "received_at": iso(at + timedelta(seconds=1)), "ingest_request_id": f"r-{n}-{i}",
                "is_bot": i > 2 and rng.random() < 0.08,
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",   # as ingest always writes one
            }
            page = {}
            if rng.random() < 0.7:
                page["path"] = rng.choice(["/", "/p/cpu", "/cart", "/checkout"])
            if rng.random() < 0.4:
                page["referrer"] = rng.choice(["https://search.example/", "https://mail.example/"])
            if page or rng.random() < 0.5:
                record["page"] = page
            if name in ("product_view", "add_to_cart"):
                pid = rng.choice(["P1", "P2", "P3"])
                record["context"] = {"product": {"id": pid, "name": f"Product {pid} v{rng.randint(1, 3)}",
                                                 "price": 10.5}}
            elif name == "purchase":
                items = [{"product_id": rng.choice(["P1", "P2"]), "quantity": rng.randint(1, 3),
                          "price": rng.choice([10.5, 0.1, 7])} for _ in range(rng.randint(0, 3))]
                record["context"] = {"order": {"order_id": f"o-{n}-{i}", "currency": "EUR", "items": items,
                                               "revenue": rng.choice([21, 0.3, 9.99])}}
            records.append(record)
    rng.shuffle(records)
    return records


def test_awkward_sessions_match_a_recomputation_column_by_column(settings, s3, bucket, dw, monkeypatch):
    """Every session rule (first/last event by timestamp then event_id, first/last non-null
    value, flags, duration) on awkward sessions spread over many small parts and two lanes,
    with retried and late events, against the plain-Python recomputation."""
    monkeypatch.setattr(pipeline, "PART_BYTES", 4000)       # a few objects a part
    lanes = dataclasses.replace(settings, batch_max_files=5, lanes=2)
    records = awkward_traffic(seed=77, sessions=80)
    late_sessions = {f"s-awk-{n}" for n in range(0, 80, 8)}
    late = [r for r in records if r["session_id"] in late_sessions][::2]
    first = [r for r in records if r not in late]
    retried = random.Random(78).sample(first, 4)
    put_by_hour(s3, bucket, first, per_object=6)
    put_object(s3, bucket, START, retried, name="retried.json")
    assert etl(lanes, s3)["events_loaded"] == len(first)
    assert_matches_recomputation(dw, first)
    put_by_hour(s3, bucket, late + retried[:2], per_object=6)
    assert etl(lanes, s3)["events_loaded"] == len(late)
    assert_matches_recomputation(dw, records)
    expected = recompute(records)
    assert len(expected["sessions"]) == 80 and len(expected["daily"]) == 2
    sessions = expected["sessions"].values()     # the awkward cases are there
    assert any(s["is_bot"] for s in sessions) and any(s["entry_page"] is None for s in sessions)
    assert any(s["landing_referrer"] is None and s["events"] > 1 for s in sessions)


def test_late_bot_event_turns_its_session_into_bot_traffic(settings, s3, bucket, dw):
    records = make_traffic(seed=36, start=datetime(2026, 11, 20, 10, tzinfo=UTC), sessions=10,
                           spread=timedelta(minutes=30), bot_share=0)
    put_by_hour(s3, bucket, records)
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    run(settings, s3=s3, now=now)
    victim = records[0]
    late = dict(victim, event_id="0f0e0d0c-0b0a-4908-8706-050403020100", event_name="click", is_bot=True,
                received_at="2026-11-20T12:20:00Z")
    late.pop("context", None)
    put_object(s3, bucket, datetime(2026, 11, 20, 12, tzinfo=UTC), [late])
    run(settings, s3=s3, now=now + timedelta(minutes=30))
    expected, actual = recompute([*records, late]), warehouse_state(dw)
    assert actual["sessions"][victim["session_id"]]["is_bot"] is True
    assert actual["funnel"] == expected["funnel"]
    assert actual["hourly"] == expected["hourly"]
    assert actual["daily"] == expected["daily"]
    assert actual["product"] == expected["product"]

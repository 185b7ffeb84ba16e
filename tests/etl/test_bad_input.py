"""Bad input loads nothing wrong and stops nothing else: each bad line, or the bad part of an
object, goes to etl_rejects with key, line and reason; the rest loads."""

from __future__ import annotations

import gzip
import json
import random
from datetime import UTC, datetime, timedelta

from functions.etl.runner import run
from tests.etl.support import encode_lines, event_ids, make_session, put_object

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def rejects(dw) -> list[tuple]:
    with dw.cursor() as cur:
        cur.execute("SELECT key, line, reason, raw_line FROM etl_rejects ORDER BY key, line NULLS LAST")
        return cur.fetchall()


def test_bad_lines_are_rejected_and_the_rest_loads(settings, s3, bucket, dw):
    good = make_session(random.Random(3), START + timedelta(minutes=1), depth=5)
    bad_schema = dict(good[0], event_id="not-a-uuid")
    unknown_field = dict(good[1], event_id="6f1c3c2e-4a7b-4c2d-9e1f-0a1b2c3d4e5f", colour="red")
    lines = [
        good[0],
        "{this is not json",
        bad_schema,
        good[1],
        "[1, 2, 3]",
        unknown_field,
        json.dumps(dict(good[2], event_timestamp="2026-02-30T10:00:00Z")),
        b"\xff\xfe not utf-8",
        '{"event_id": NaN}',
        *good[2:],
    ]
    key = put_object(s3, bucket, START, lines)
    summary = run(settings, s3=s3, now=NOW)
    assert (summary["files"], summary["events_loaded"], summary["rejected"]) == (1, len(good), 7)
    assert event_ids(dw) == {e["event_id"] for e in good}
    got = rejects(dw)
    assert [(k, line) for k, line, _, _ in got] == [(key, n) for n in (2, 3, 5, 6, 7, 8, 9)]
    reasons = [reason for _, _, reason, _ in got]
    assert reasons[0].startswith("not valid JSON")
    assert reasons[1].startswith("event_id:") and "does not match" in reasons[1]
    assert "not a JSON object but a JSON list" in reasons[2]
    assert "colour" in reasons[3]
    assert reasons[4].startswith("event_timestamp: not an RFC 3339 timestamp")
    assert reasons[5] == "not UTF-8"
    assert "NaN is not a JSON number" in reasons[6]
    assert got[0][3] == "{this is not json"
    with dw.cursor() as cur:
        cur.execute("SELECT events, rejected FROM etl_file_manifest WHERE key = %s", (key,))
        assert cur.fetchone() == (len(good), 7)


def test_truncated_gzip_keeps_the_complete_lines(settings, s3, bucket, dw):
    events = make_session(random.Random(5), START + timedelta(minutes=3), depth=5)
    whole = gzip.compress(encode_lines(events))
    key = put_object(s3, bucket, START, [], name="events-cut.json.gz", body=whole[: len(whole) * 2 // 3])
    ok_key = put_object(s3, bucket, START, events[:1], gz=True)
    summary = run(settings, s3=s3, now=NOW)
    assert summary["files"] == 2
    loaded = event_ids(dw)
    assert events[0]["event_id"] in loaded            # from the intact gzip object
    assert 0 < len(loaded) < len(events)               # the truncated one's complete lines loaded
    cut = [r for r in rejects(dw) if r[0] == key]
    assert len(cut) == 1 and "truncated gzip stream" in cut[0][2]
    assert ok_key not in {r[0] for r in rejects(dw)}


def test_an_object_that_is_not_json_lines(settings, s3, bucket, dw):
    events = make_session(random.Random(9), START + timedelta(minutes=3), depth=2)
    pretty = json.dumps(events, indent=2).encode()
    key = put_object(s3, bucket, START, [], body=pretty)
    no_newline = bytes(b for b in range(256) if b != 10) * 400    # 100 KiB of binary, no line end
    binary = put_object(s3, bucket, START, [], body=no_newline)
    summary = run(settings, s3=s3, now=NOW)
    assert (summary["files"], summary["events_loaded"]) == (2, 0)
    got = rejects(dw)
    whole_object = {(k, reason) for k, line, reason, _ in got if line is None}
    assert (key, "no valid event in the object: is it JSON Lines?") in whole_object
    assert any(k == binary and "longer than 65536 bytes" in reason for k, _, reason, _ in got)
    # Bounded raw text per reject, whatever the line.
    assert max(len(raw or "") for *_, raw in got) <= 1024


def test_epoch_millis_offsets_and_whitespace_are_normalized(settings, s3, bucket, dw):
    base = make_session(random.Random(13), START + timedelta(minutes=3), depth=2)
    first = dict(base[0], event_timestamp=int(datetime(2026, 11, 20, 10, 5, tzinfo=UTC).timestamp() * 1000),
                 client_id="  c-padded  ")
    second = dict(base[1], event_timestamp="2026-11-20T17:06:00.123456789+07:00",
                  user_id="   ")
    second["context"]["product"]["price"] = 10
    put_object(s3, bucket, START, [first, second])
    run(settings, s3=s3, now=NOW)
    with dw.cursor() as cur:
        cur.execute("SELECT event_timestamp, client_id, user_id, context_product_price"
                    " FROM clickstream_events ORDER BY event_timestamp")
        rows = cur.fetchall()
    assert rows[0][:2] == (datetime(2026, 11, 20, 10, 5, tzinfo=UTC), "c-padded")
    assert rows[1][0] == datetime(2026, 11, 20, 10, 6, 0, 123456, tzinfo=UTC)
    assert rows[1][2] is None
    assert rows[1][3] == 10


def test_a_leap_second_past_year_9999_is_rejected_not_a_crash(settings, s3, bucket, dw):
    good = make_session(random.Random(5), START + timedelta(minutes=1), depth=2)
    lines = [good[0], dict(good[1], event_timestamp="9999-12-31T23:59:60Z")]
    key = put_object(s3, bucket, START, lines)
    summary = run(settings, s3=s3, now=NOW)
    assert (summary["events_loaded"], summary["rejected"]) == (1, 1)
    [(got_key, line, reason, _)] = rejects(dw)
    assert (got_key, line) == (key, 2)
    assert reason.startswith("event_timestamp: timestamp out of range")



def test_json_nested_too_deep_for_the_decoder_is_rejected_not_a_crash(settings, s3, bucket, dw):
    good = make_session(random.Random(7), START + timedelta(minutes=1), depth=2)
    deep = json.dumps(good[1])[:-1] + ', "properties": ' + '{"a":' * 3000 + "1" + "}" * 3000 + "}"
    key = put_object(s3, bucket, START, [good[0], deep])
    summary = run(settings, s3=s3, now=NOW)
    assert (summary["status"], summary["events_loaded"], summary["rejected"]) == ("succeeded", 1, 1)
    [(got_key, line, reason, _)] = rejects(dw)
    assert (got_key, line) == (key, 2)
    assert "nested more than ~1000 levels deep" in reason


def test_order_item_quantities_the_contract_allows_do_not_stop_the_aggregates(settings, s3, bucket, dw):
    """The contract's integer quantity admits 2.0 and numbers of any size. 2.0 counts as 2; two
    items of two billion add up past 2^31 - 1; a quantity above it is a reject. Each of these
    used to fail the batch's product aggregates, and every rerun."""
    def purchase(seed: int, quantity) -> dict:
        [event] = [e for e in make_session(random.Random(seed), START + timedelta(minutes=seed), depth=5)
                   if e["event_name"] == "purchase"]
        order = event["context"]["order"]
        order["items"] = [{"product_id": "P-BULK", "quantity": quantity, "price": 1}]
        return event

    lines = [purchase(11, 2.0), purchase(12, 2_000_000_000), purchase(14, 2_000_000_000),
             purchase(15, 3_000_000_000)]
    key = put_object(s3, bucket, START, lines)
    summary = run(settings, s3=s3, now=NOW)
    assert (summary["status"], summary["events_loaded"], summary["rejected"]) == ("succeeded", 3, 1)
    [(got_key, line, reason, _)] = rejects(dw)
    assert (got_key, line) == (key, 4)
    assert reason == ("context.order.items[0].quantity: 3000000000 is more than 2147483647,"
                      " the most the warehouse counts")
    with dw.cursor() as cur:
        cur.execute("SELECT purchases, units, revenue FROM agg_product_daily WHERE product_id = 'P-BULK'")
        assert cur.fetchall() == [(3, 4_000_000_002, 4_000_000_002)]
        cur.execute("SELECT order_items -> 0 -> 'quantity' FROM clickstream_events"
                    " WHERE order_items -> 0 ->> 'quantity' NOT LIKE '2000%'")
        assert cur.fetchall() == [(2,)]


def test_a_number_beyond_a_double_is_rejected_not_a_crash(settings, s3, bucket, dw):
    """1e400 is valid JSON; read as a float it is Infinity, which jsonb refuses: the COPY failed
    the batch, and every rerun. It is a reject naming the number; the other lines load."""
    good = make_session(random.Random(9), START + timedelta(minutes=1), depth=2)
    huge = json.dumps(good[1])[:-1] + ', "properties": {"weight_kg": 1e400}}'
    key = put_object(s3, bucket, START, [good[0], huge])
    summary = run(settings, s3=s3, now=NOW)
    assert (summary["status"], summary["events_loaded"], summary["rejected"]) == ("succeeded", 1, 1)
    [(got_key, line, reason, _)] = rejects(dw)
    assert (got_key, line) == (key, 2)
    assert reason == "number out of range: 1e400 (a double's range ends near 1.8e308)"

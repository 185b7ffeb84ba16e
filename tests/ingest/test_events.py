"""Per-event validation (schema, size, strict JSON) and raw line building."""

from __future__ import annotations

import json

import pytest

from functions.ingest.enrich import enrichment
from functions.ingest.events import (
    MAX_REASON_CHARS,
    build_batch,
    check_event,
    enrichment_suffix,
    to_json_lines,
)
from functions.ingest.request import MAX_EVENT_BYTES
from functions.schemas import ENRICHMENT_FIELDS, ENRICHMENT_VALIDATOR, EVENT_VALIDATOR, validate_event
from tests.ingest.helpers import TIME_EPOCH_MS, make_event

ENRICHMENT = enrichment(time_epoch_ms=TIME_EPOCH_MS, request_id="req-1", source_ip="203.0.113.77",
                        user_agent="Mozilla/5.0 Firefox/133.0")


@pytest.mark.parametrize("name", ["page_view", "product_view", "search", "add_to_cart", "remove_from_cart",
                                  "begin_checkout", "purchase", "login", "sign_up", "click",
                                  "newsletter_open"])
def test_valid_events_pass(name):
    assert validate_event(make_event(name)) is None
    encoded, reason = check_event(make_event(name))
    assert reason is None and json.loads(encoded)["event_name"] == name


@pytest.mark.parametrize(("event", "field", "rule"), [
    (make_event(event_id="not-a-uuid"), "event_id", "pattern"),
    (make_event(event_name="Page View"), "event_name", "pattern"),
    (make_event(user_login_state="admin"), "user_login_state", "enum"),
    (make_event(client_id=""), "client_id", "minLength"),
    (make_event(event_timestamp="yesterday"), "event_timestamp", "pattern"),
    (make_event(event_timestamp=123), "event_timestamp", "minimum"),
    (make_event(is_first_visit="yes"), "is_first_visit", "type"),
    (make_event(colour="red"), "(event)", "additionalProperties"),
    (make_event("product_view", context={}), "context", "required"),
    (make_event("purchase", context={"order": {"order_id": "o", "revenue": -1, "currency": "USD"}}),
     "context.order.revenue", "minimum"),
    ({k: v for k, v in make_event().items() if k != "session_id"}, "(event)", "required"),
])
def test_invalid_events_name_field_and_rule(event, field, rule):
    reason = validate_event(event)
    assert reason is not None
    assert reason.startswith(f"{field}:")
    assert f"(rule: {rule})" in reason


def test_ingest_validates_with_the_shared_schema_module():
    from functions.ingest import events  # noqa: PLC0415
    from functions.schemas import EVENT_SCHEMA, FAST_EVENT_VALIDATOR, SCHEMA_PATHS  # noqa: PLC0415

    assert events.validate_event is validate_event
    assert SCHEMA_PATHS[1].name == "clickstream-event.v1.json"
    assert json.loads(SCHEMA_PATHS[1].read_text(encoding="utf-8")) == EVENT_SCHEMA
    assert FAST_EVENT_VALIDATOR.is_valid(make_event())
    assert not FAST_EVENT_VALIDATOR.is_valid(make_event(event_name="Page View"))


def test_trailing_newline_is_refused_although_python_re_would_accept_it():
    event = make_event(event_name="page_view\n")
    assert EVENT_VALIDATOR.is_valid(event)  # python's re: "$" matches before a final newline
    reason = validate_event(event)
    assert reason is not None and reason.startswith("event_name:")
    assert "(rule: pattern)" in reason


def test_values_rust_cannot_hold_fall_back_to_python():
    event = make_event(properties={"big": 10**40})
    assert validate_event(event) is None
    assert validate_event(make_event(event_timestamp=10**40)).startswith("event_timestamp:")


@pytest.mark.parametrize(("value", "needle"), [(float("nan"), "finite"), (float("inf"), "finite"),
                                               ("\ud83d", "surrogate")])
def test_values_that_are_not_strict_json_are_refused(value, needle):
    encoded, reason = check_event(make_event(properties={"x": value}))
    assert encoded is None
    assert needle in reason


def test_non_object_events_are_refused_with_the_type_rule():
    for value in (1, "event", None, [make_event()]):
        encoded, reason = check_event(value)
        assert encoded is None
        assert reason.startswith("(event):") and "(rule: type)" in reason


def test_event_size_cap_is_32_kib_of_compact_utf8():
    event = make_event(properties={"pad": ""})
    base = len(json.dumps(event, separators=(",", ":")))
    event["properties"]["pad"] = "p" * (MAX_EVENT_BYTES - base)
    encoded, reason = check_event(event)
    assert reason is None and len(encoded) == MAX_EVENT_BYTES
    event["properties"]["pad"] += "p"
    encoded, reason = check_event(event)
    assert encoded is None
    assert reason == (f"(event): {MAX_EVENT_BYTES + 1} bytes, over the {MAX_EVENT_BYTES}-byte event cap "
                      "(rule: size)")


def test_batch_lines_are_event_plus_enrichment_and_reasons_have_indexes():
    good = [make_event(), make_event("product_view", user_id="sub-1", user_login_state="logged_in")]
    events = [good[0], {"event_name": "x"}, good[1], 7]
    batch = build_batch(events, ENRICHMENT)
    assert batch.accepted == 2
    assert [r["index"] for r in batch.rejected] == [1, 3]
    for line, original in zip(batch.lines, good, strict=True):
        record = json.loads(line)
        client = {k: v for k, v in record.items() if k not in ENRICHMENT_FIELDS}
        added = {k: v for k, v in record.items() if k in ENRICHMENT_FIELDS}
        assert client == original
        assert added == ENRICHMENT
        assert list(record)[: len(original)] == list(original)  # the client's field order is kept
        assert EVENT_VALIDATOR.is_valid(client) and ENRICHMENT_VALIDATOR.is_valid(added)
        assert b"\n" not in line


def test_reasons_are_truncated():
    batch = build_batch([make_event(event_name="X" * 5000)], ENRICHMENT)
    reason = batch.rejected[0]["reason"]
    assert len(reason) == MAX_REASON_CHARS and reason.endswith("...")
    assert reason.startswith("event_name:")


def test_suffix_and_json_lines():
    suffix = enrichment_suffix({"received_at": "t", "ingest_request_id": "r", "is_bot": False})
    assert suffix == b',"received_at":"t","ingest_request_id":"r","is_bot":false}'
    assert to_json_lines([b"{}", b"[]"]) == b"{}\n[]\n"


def test_non_ascii_is_stored_as_utf8_not_escaped():
    encoded, _ = check_event(make_event(page={"title": "Bàn phím cơ"}))
    assert "Bàn phím cơ".encode() in encoded


def test_event_timestamp_outside_the_window_around_received_at_is_rejected_by_name():
    # ENRICHMENT's received_at is 2026-11-21T23:05:09.123Z.
    events = [make_event(event_timestamp="2026-11-21T23:20:00Z"),      # 15 minutes ahead
              make_event(event_timestamp="2026-11-10T23:05:00Z"),      # 11 days behind
              make_event(event_timestamp="2026-11-21T23:14:00Z"),      # 9 minutes ahead: fine
              make_event(event_timestamp=1_795_302_309_123 - 6 * 86_400_000)]   # 6 days behind: fine
    batch = build_batch(events, ENRICHMENT)
    assert batch.accepted == 2
    assert [r["index"] for r in batch.rejected] == [0, 1]
    assert batch.rejected[0]["reason"].startswith("event_timestamp: 2026-11-21T23:20:00Z is ")
    assert "ahead of received_at" in batch.rejected[0]["reason"]
    assert "behind received_at" in batch.rejected[1]["reason"]


@pytest.mark.parametrize("field", ["client_id", "page"])
def test_nul_characters_are_refused_by_name(field):
    value = "a\u0000b" if field == "client_id" else {"url": "https://shop.example/\u0000", "path": "/"}
    encoded, reason = check_event(make_event(**{field: value}))
    assert encoded is None and "NUL character" in reason
    batch = build_batch([make_event(**{field: value}), make_event()], ENRICHMENT)
    assert batch.accepted == 1 and batch.rejected[0]["index"] == 0

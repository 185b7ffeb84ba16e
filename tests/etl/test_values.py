"""values.py: each column format's normalization, and the fast event-time text against the
exact parse it shortcuts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.etl.values import (
    JSON,
    MAX_QUANTITY,
    NUMBER,
    TEXT,
    FastPathDeclines,
    RejectedLine,
    copy_json,
    copy_text,
    counted_items,
    event_time_text,
    parse_event_time,
)
from tests.etl.lines import TIMESTAMPS, timestamps


def outcome(function, *args):
    try:
        return "value", function(*args)
    except RejectedLine as exc:
        return "reject", str(exc)
    except Exception as exc:
        return "error", type(exc).__name__


def exact_time_text(value, field_name: str) -> str:
    return parse_event_time(value, field_name).isoformat()


@pytest.mark.parametrize("value", [v for v in TIMESTAMPS if isinstance(v, str)])
def test_the_event_time_shortcut_gives_the_exact_text_or_reason(value):
    assert outcome(event_time_text, value, "t") == outcome(exact_time_text, value, "t")


@settings(max_examples=300, deadline=None, database=None)
@given(value=st.one_of(timestamps, st.text(alphabet="0123456789-:.TZtz +", max_size=32)))
def test_the_event_time_shortcut_agrees_on_any_value(value):
    if isinstance(value, str) or type(value) in (int, float):
        assert outcome(event_time_text, value, "t") == outcome(exact_time_text, value, "t")


def test_event_times_normalize_to_utc():
    assert event_time_text("2026-11-20T17:06:00.123456789+07:00", "t") == "2026-11-20T10:06:00.123456+00:00"
    assert event_time_text("2026-11-20T10:00:00.5Z", "t") == "2026-11-20T10:00:00.500000+00:00"
    assert event_time_text(1_763_632_800_123, "t") == "2025-11-20T10:00:00.123000+00:00"
    assert parse_event_time("2026-12-31T23:59:60Z", "t") == datetime(2027, 1, 1, tzinfo=UTC)   # leap second
    with pytest.raises(RejectedLine, match=r"^t: timestamp out of range: '9999-12-31T23:59:60Z'"):
        parse_event_time("9999-12-31T23:59:60Z", "t")
    with pytest.raises(RejectedLine, match=r"^received_at: timestamp without a UTC offset"):
        parse_event_time("2026-11-20T10:00:00", "received_at")
    with pytest.raises(RejectedLine, match=r"^t: not an RFC 3339 timestamp: '2026-02-30T10:00:00Z'"):
        parse_event_time("2026-02-30T10:00:00Z", "t")


def test_text_is_trimmed_escaped_and_blank_is_null():
    assert copy_text(None) == copy_text("") == copy_text(" \u3000\n") == "\\N"
    assert copy_text("  a\tb\\c\r\n d ") == "a\\tb\\\\c\\r\\n d"
    assert copy_text("\\N") == "\\\\N"                      # a value, not NULL
    assert TEXT.exact(" x ", "f") == "x"


def test_numbers_and_json_keep_their_exact_text():
    assert NUMBER.exact(0.1 + 0.2, "f") == "0.30000000000000004"
    assert NUMBER.exact(10**20, "f") == "100000000000000000000"
    assert NUMBER.exact(None, "f") == "\\N"
    assert copy_json({"a": ["é", 1.5, "t\tb"]}) == '{"a":["é",1.5,"t\\\\tb"]}'
    assert JSON.exact(None, "f") == "\\N"


def test_the_fast_number_and_json_formats_decline_what_orjson_may_read_otherwise():
    namespace = dict(NUMBER.helpers, N="\\N")
    fast_number = eval("lambda v: " + NUMBER.fast.format(v="v", label="'f'"), namespace)  # noqa: S307
    assert fast_number(1.5) == "1.5" and fast_number(None) == "\\N"
    with pytest.raises(FastPathDeclines):
        fast_number(1e16)
    namespace = dict(JSON.helpers, N="\\N")
    fast_json = eval("lambda v, raw: " + JSON.fast.format(v="v", label="'f'"), namespace)  # noqa: S307
    assert fast_json({"n": 1}, b"{}") == '{"n":1}'
    with pytest.raises(FastPathDeclines):
        fast_json({"n": 1e20}, b"{}")
    with pytest.raises(FastPathDeclines):        # may nest too deep for the exact path's decoder
        fast_json({"n": 1}, b"[" * 600 + b"]" * 600)


def test_order_item_quantities_are_counted_as_integers():
    assert counted_items({"order_id": "o"}) == []
    items = [{"product_id": "P", "quantity": 2}]
    assert counted_items({"items": items}) is items                     # nothing to change: no copy
    [counted] = counted_items({"items": [{"product_id": "P", "quantity": 2.0}]})
    assert counted == {"product_id": "P", "quantity": 2} and type(counted["quantity"]) is int
    [most] = counted_items({"items": [{"product_id": "P", "quantity": MAX_QUANTITY}]})
    assert most["quantity"] == MAX_QUANTITY
    with pytest.raises(RejectedLine, match=r"^context\.order\.items\[1\]\.quantity: 2147483648 is more than"):
        counted_items({"items": [{"product_id": "P", "quantity": 1}, {"product_id": "Q", "quantity": 2**31}]})

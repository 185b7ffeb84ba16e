"""functions/event_time.py: the window around received_at an event_timestamp must fall in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions import event_time
from functions.event_time import EventTimeWindow, client_time_reason, parse_client_time, window_from_env

RECEIVED = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(("offset", "inside"), [
    (timedelta(0), True),
    (timedelta(minutes=10), True),                   # the bounds are inclusive
    (timedelta(minutes=10, milliseconds=1), False),
    (-timedelta(days=7), True),
    (-timedelta(days=7, milliseconds=1), False),
    (timedelta(days=365), False),
])
def test_default_window_is_ten_minutes_ahead_seven_days_behind(offset, inside):
    window = EventTimeWindow()
    assert window.contains(RECEIVED + offset, RECEIVED) is inside
    assert (window.reason(RECEIVED + offset, RECEIVED) is None) is inside


def test_reason_names_the_field_the_bound_and_its_variable():
    window = EventTimeWindow()
    ahead = window.reason(RECEIVED + timedelta(hours=1), RECEIVED)
    assert ahead.startswith("event_timestamp: 2026-11-20T11:00:00Z is 3600 s ahead of received_at")
    assert "600 s allowed (EVENT_TIME_MAX_AHEAD_SECONDS)" in ahead
    behind = window.reason(RECEIVED - timedelta(days=8), RECEIVED)
    assert "behind received_at" in behind and "(EVENT_TIME_MAX_BEHIND_SECONDS)" in behind


def test_bounds_come_from_the_environment():
    window = window_from_env({"EVENT_TIME_MAX_AHEAD_SECONDS": "60",
                              "EVENT_TIME_MAX_BEHIND_SECONDS": " 3600 "})
    assert window == EventTimeWindow(timedelta(seconds=60), timedelta(hours=1))
    assert window_from_env({}) == EventTimeWindow(timedelta(minutes=10), timedelta(days=7))
    with pytest.raises(ValueError, match="EVENT_TIME_MAX_AHEAD_SECONDS='ten'"):
        window_from_env({"EVENT_TIME_MAX_AHEAD_SECONDS": "ten"})
    with pytest.raises(ValueError, match="EVENT_TIME_MAX_BEHIND_SECONDS='-1': must not be negative"):
        window_from_env({"EVENT_TIME_MAX_BEHIND_SECONDS": "-1"})


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-11-20T10:00:00Z", RECEIVED),
    ("2026-11-20t17:00:00.000+07:00", RECEIVED),
    ("2026-11-20T09:59:60Z", RECEIVED),               # a leap second is the next second
    (1_795_168_800_000, RECEIVED),
    (1_795_168_800_000.0, RECEIVED),
    ("2026-11-20T10:00:00", None),                    # no offset: the schema's to report
    ("yesterday", None), (None, None), (True, None),
])
def test_client_times_parse_as_the_contract_reads_them(value, expected):
    assert parse_client_time(value) == expected


def test_client_time_reason_uses_the_process_window(monkeypatch):
    assert client_time_reason("2026-11-20T10:05:00Z", RECEIVED) is None
    monkeypatch.setattr(event_time, "WINDOW", EventTimeWindow(max_ahead=timedelta(minutes=1)))
    assert "ahead of received_at" in client_time_reason("2026-11-20T10:05:00Z", RECEIVED)
    assert client_time_reason("not a time", RECEIVED) is None

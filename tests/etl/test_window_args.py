"""window_args.py: the --since/--until of the CLI and the manual event's window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from functions.etl.window_args import parse_instant, parse_window


def test_a_window_is_iso_8601_in_utc_and_a_date_is_its_midnight():
    assert parse_window("2026-11-21", None)[0] == datetime(2026, 11, 21, tzinfo=UTC)
    assert parse_window(None, None) == (None, None)
    since, until = parse_window("2026-11-21 10:00+07:00", "2026-11-21T05:00:00Z")
    assert (since, until) == (datetime(2026, 11, 21, 3, tzinfo=UTC), datetime(2026, 11, 21, 5, tzinfo=UTC))
    assert since.tzinfo is UTC
    assert parse_instant("2026-11-21t10:00z", "since") == datetime(2026, 11, 21, 10, tzinfo=UTC)
    assert parse_instant("2026-11-21T10:00", "since").utcoffset() == timedelta(0)   # no offset: UTC
    new_york = timezone(-timedelta(hours=5))
    assert parse_instant("2026-11-21T10:00-05:00", "x") == datetime(2026, 11, 21, 10, tzinfo=new_york)


def test_a_bad_window_names_what_is_wrong():
    with pytest.raises(ValueError, match="until without since"):
        parse_window(None, "2026-11-21")
    with pytest.raises(ValueError, match=r"until \(2026-11-20\) is before since \(2026-11-21\)"):
        parse_window("2026-11-21", "2026-11-20")
    with pytest.raises(ValueError, match="since: not an ISO 8601 timestamp: 'yesterday'"):
        parse_window("yesterday", None)
    with pytest.raises(ValueError, match="since: expected an ISO 8601 timestamp, got ' '"):
        parse_window(" ", None)

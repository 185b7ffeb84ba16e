"""functions/raw_layout.py: the raw object keys ingest writes and the ETL lists, spelled out here
as the contract says, so a change to the layout fails here first."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone

from functions.raw_layout import PREFIX, hour_prefix, hour_prefixes, key_hour, object_key

KEY_RE = re.compile(r"^events/2025/11/21/23/events-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                    r"[0-9a-f]{12}\.json$")
RECEIVED = datetime(2025, 11, 21, 23, 5, 9, 123000, tzinfo=UTC)


def test_object_key_layout():
    fixed = uuid.UUID("12345678-1234-4234-8234-123456789abc")
    assert object_key(RECEIVED, fixed) == (
        "events/2025/11/21/23/events-12345678-1234-4234-8234-123456789abc.json")
    assert KEY_RE.match(object_key(RECEIVED))
    assert object_key(RECEIVED, "x", suffix=".json.gz") == "events/2025/11/21/23/events-x.json.gz"
    assert object_key(RECEIVED) != object_key(RECEIVED)         # a new uuid4 per object


def test_the_hour_is_the_utc_hour_of_the_receive_time():
    jakarta = timezone(timedelta(hours=7))
    assert hour_prefix(datetime(2026, 1, 1, 6, 59, 59, tzinfo=jakarta)) == "events/2025/12/31/23/"
    assert hour_prefix(datetime(2026, 1, 1, 0, 0, tzinfo=UTC)) == "events/2026/01/01/00/"
    assert PREFIX == "events/" and hour_prefix(RECEIVED).startswith(PREFIX)


def test_key_hour_reads_back_the_hour_of_a_key_in_the_layout_only():
    assert key_hour(object_key(RECEIVED)) == datetime(2025, 11, 21, 23, tzinfo=UTC)
    assert key_hour("events/2026/11/21/03/events-x.json") == datetime(2026, 11, 21, 3, tzinfo=UTC)
    assert key_hour("events/2026/13/21/03/events-x.json") is None        # no month 13
    assert key_hour("other/2026/11/21/03/x.json") is None
    assert key_hour("events/2026/11/21/03/") is None                      # a prefix, not an object
    assert key_hour("events/2026/11/21/03/sub/x.json") is None
    assert key_hour("events/2026/11/21/3/x.json") is None


def test_hour_prefixes_cover_the_window_both_ends_included():
    since, until = datetime(2026, 11, 20, 22, 59, tzinfo=UTC), datetime(2026, 11, 21, 3, 25, tzinfo=UTC)
    assert hour_prefixes(since, until) == [
        "events/2026/11/20/22/", "events/2026/11/20/23/", "events/2026/11/21/00/", "events/2026/11/21/01/",
        "events/2026/11/21/02/", "events/2026/11/21/03/"]
    assert hour_prefixes(until, until) == ["events/2026/11/21/03/"]
    assert hour_prefixes(until, since) == []

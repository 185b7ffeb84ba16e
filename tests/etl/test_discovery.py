"""discovery.py: the default window, and the objects the manifest lacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from functions.etl.discovery import default_window, new_objects
from functions.etl.raw_bucket import RawObject
from functions.raw_layout import hour_prefix, hour_prefixes, object_key


def test_discovery_window_and_prefixes():
    now = datetime(2026, 11, 21, 3, 25, tzinfo=UTC)
    assert default_window(None, 3, now) == (None, now)
    since, until = default_window(datetime(2026, 11, 21, 1, tzinfo=UTC), 3, now)
    assert (since, until) == (datetime(2026, 11, 20, 22, tzinfo=UTC), now)
    assert hour_prefixes(since, until) == [hour_prefix(since + timedelta(hours=h)) for h in range(6)]


def test_new_objects_are_those_the_manifest_lacks_with_that_etag_in_key_order():
    hour = datetime(2026, 11, 21, 3, tzinfo=UTC)
    a, b, c = (object_key(hour, name) for name in "abc")
    listed = [RawObject(b, "e2", 10, hour), RawObject(a, "e1", 10, hour), RawObject(c, "e3", 10, hour)]
    loaded = {a: "e1",            # loaded as it is
              b: "old"}           # replaced since: load again
    assert [o.key for o in new_objects(iter(listed), loaded)] == [b, c]

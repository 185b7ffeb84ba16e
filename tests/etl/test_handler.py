"""handler.py: the Lambda entry point, for the scheduled event and a manual backfill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.etl import handler
from tests.etl.support import event_ids, make_traffic, put_by_hour


class FakeContext:
    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def recent_traffic(seed: int, hours_ago: int, sessions: int = 15):
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)
    return make_traffic(seed=seed, start=start, sessions=sessions, spread=timedelta(minutes=40))


def test_scheduled_event_loads_new_objects_and_returns_a_summary(settings, s3, bucket, dw):
    records = recent_traffic(31, hours_ago=1)
    keys = put_by_hour(s3, bucket, records, per_object=20)
    scheduled = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    summary = handler.handler(scheduled, FakeContext())
    assert summary["status"] == "succeeded"
    assert {k: summary[k] for k in ("files", "events_loaded", "duplicates", "rejected")} == {
        "files": len(keys), "events_loaded": len(records), "duplicates": 0, "rejected": 0}
    assert summary["sessions_touched"] == len({r["session_id"] for r in records})
    assert summary["seconds"] > 0
    with dw.cursor() as cur:
        cur.execute("SELECT trigger FROM etl_runs")
        assert cur.fetchall() == [("scheduled",)]


def test_manual_backfill_reloads_only_what_the_manifest_lacks(settings, s3, bucket, dw):
    old = make_traffic(seed=32, start=datetime(2026, 10, 1, 9, tzinfo=UTC), sessions=10,
                       spread=timedelta(minutes=30))
    recent = recent_traffic(33, hours_ago=0)
    put_by_hour(s3, bucket, recent)
    handler.handler({"detail-type": "Scheduled Event"}, FakeContext())      # first run: everything so far
    old_keys = put_by_hour(s3, bucket, old)                                 # restored from an archive, say
    scheduled = handler.handler({"detail-type": "Scheduled Event"}, FakeContext())
    assert scheduled["files"] == 0                     # far outside the lookback window
    summary = handler.handler({"since": "2026-10-01T00:00:00Z", "until": "2026-10-01T23:59:59Z"}, None)
    assert (summary["files"], summary["events_loaded"]) == (len(old_keys), len(old))
    assert summary["window"] == {"since": "2026-10-01T00:00:00+00:00", "until": "2026-10-01T23:59:59+00:00"}
    assert event_ids(dw) == {r["event_id"] for r in old + recent}
    with pytest.raises(ValueError, match=r"until .* is before since"):
        handler.handler({"since": "2026-10-02T00:00:00Z", "until": "2026-10-01T00:00:00Z"}, None)

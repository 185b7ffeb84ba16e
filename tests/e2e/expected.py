"""Expected dashboard figures computed from the traffic generator's record (shared by the e2e tests)."""

from __future__ import annotations

from datetime import date, timedelta


def expected_daily(rec: dict, first: date, last: date) -> dict[str, dict]:
    """What dashboard.activity_daily shows per UTC day of [first, last], from the record."""
    out = {}
    day = first
    while day <= last:
        key = day.isoformat()
        hours = [h for k, h in rec["activity_by_hour"].items() if k.startswith(key)]
        out[key] = {"events": rec["activity_by_day"].get(key, {}).get("events", 0),
                    "users": rec["activity_by_day"].get(key, {}).get("clients", 0),
                    "sessions": rec["sessions_by_start_day"].get(key, {}).get("sessions", 0),
                    "peak_hour_users": max((h["clients"] for h in hours), default=0)}
        day += timedelta(days=1)
    return out

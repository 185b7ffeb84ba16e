"""Expected dashboard figures computed from the demo's records (shared by the e2e tests): the
traffic generator's, and the shop walk's (localplatform/demo/walk.py), which the demo's
dashboards show together."""

from __future__ import annotations

from datetime import date, timedelta

from localplatform import traffic

_COUNTS = ("events", "sessions", "clients")


def _add_buckets(total: dict, more: dict) -> dict:
    """Activity buckets (per hour or day) of two records added up. Their sessions and browsers are
    disjoint (the walk's browsers are new ones), so distinct counts add too."""
    out = {k: dict(v, by_name=dict(v["by_name"])) for k, v in total.items()}
    for key, bucket in more.items():
        mine = out.setdefault(key, {"events": 0, "sessions": 0, "clients": 0, "by_name": {}})
        for name in _COUNTS:
            mine[name] += bucket[name]
        for name, n in bucket["by_name"].items():
            mine["by_name"][name] = mine["by_name"].get(name, 0) + n
    return dict(sorted(out.items()))


def _add_counts(total: dict, more: dict) -> dict:
    """{key: {name: n}} (or {key: n}) of two records added up."""
    out = {}
    for key in sorted(total.keys() | more.keys()):
        a, b = total.get(key), more.get(key)
        if isinstance(a if a is not None else b, dict):
            a, b = a or {}, b or {}
            out[key] = {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}
        else:
            out[key] = (a or 0) + (b or 0)
    return out


def combined(rec: dict, walk: dict | None) -> dict:
    """The generator's record with the shop walk's added where the dashboards count both: events,
    sessions, the funnel, activity per hour and day, purchases and the shop's orders. The window's
    end moves on to the walk's last hour."""
    if not walk:
        return rec
    out = dict(rec)
    out["sent"] = dict(rec["sent"])
    for name in ("events", "valid_events", "human_events", "bot_events"):
        out["sent"][name] += walk["sent"][name]
    out["sessions"] = {k: rec["sessions"][k] + walk["sessions"].get(k, 0) for k in rec["sessions"]}
    out["funnel_sessions"] = {s: rec["funnel_sessions"][s] + walk["funnel_sessions"][s]
                              for s in traffic.FUNNEL_STEPS}
    for name in ("funnel_sessions_by_day", "sessions_by_start_day"):
        out[name] = _add_counts(rec[name], walk[name])
    for name in ("activity_by_hour", "activity_by_day"):
        out[name] = _add_buckets(rec[name], walk[name])
    out["orders"] = rec["orders"] + walk["orders"]
    out["revenue"] = round(rec["revenue"] + walk["revenue"], 2)
    shop, more = rec["shop_orders"], walk["shop_orders"]
    orders = {k: shop[k] + more[k] for k in ("orders", "booked_orders", "ad_blocked_orders",
                                              "untracked_orders", "forged_purchases")}
    orders["booked_revenue"] = round(shop["booked_revenue"] + more["booked_revenue"], 2)
    booked = orders["booked_orders"]
    orders["coverage"] = (booked - orders["untracked_orders"]) / booked if booked else None
    out["shop_orders"] = orders
    ends = [traffic.parse_ts(rec["params"]["window_end"])]
    ends += [traffic.parse_ts(hour) for hour in walk["activity_by_hour"]]
    out["params"] = dict(rec["params"], window_end=traffic.iso_utc(max(ends)))
    return out


def date_range(rec: dict) -> tuple[date, date]:
    """The UTC days a (combined) record spans."""
    return (traffic.parse_ts(rec["params"]["window_start"]).date(),
            traffic.parse_ts(rec["params"]["window_end"]).date())


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

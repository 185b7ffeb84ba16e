"""Expected dashboard figures computed from the demo's records (shared by the e2e tests): the
traffic generator's, and the shop walk's (localplatform/demo/walk.py), which the demo's
dashboards show together."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from localplatform import traffic
from tests.support import quality

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


# --------------------------------------------------------------------------------------------
# Data quality: the anomalies and restatements the demo's records imply (docs/warehouse-etl.md,
# "Data quality"), computed in plain Python with the oracle of tests/support/quality.py.


def _hour(key: str) -> datetime:
    return traffic.parse_ts(key)


def hourly_metrics(rec: dict, walk: dict | None, *, with_late: bool) -> dict:
    """{hour: {metric: (value, volume)}} of the events, sessions and purchases of non-bot sessions
    and the bot share, from the records; without the late batch when `with_late` is false (what
    the warehouse held before it arrived)."""
    late = (rec.get("late") or {}).get("activity_by_hour", {}) if not with_late else {}
    human = _add_buckets(rec["activity_by_hour"], (walk or {}).get("activity_by_hour", {}))
    out: dict = {}
    for key in human.keys() | rec["bot_events_by_hour"].keys():
        bucket = human.get(key, {"events": 0, "sessions": 0, "by_name": {}})
        minus = late.get(key, {"events": 0, "sessions": 0, "by_name": {}})
        events, sessions = bucket["events"] - minus["events"], bucket["sessions"] - minus["sessions"]
        purchases = bucket["by_name"].get("purchase", 0) - minus["by_name"].get("purchase", 0)
        bots = rec["bot_events_by_hour"].get(key, 0)
        if events == sessions == bots == 0:
            continue
        total = events + bots
        share = bots / total if total else None
        out[_hour(key)] = {"events": (events, None), "sessions": (sessions, None),
                           "purchases": (purchases, None), "bot_share": (share, total)}
    return out


def _hours_between(first: str, last: str) -> set[datetime]:
    hour, end = _hour(first).replace(minute=0, second=0, microsecond=0), _hour(last)
    out = set()
    while hour <= end:
        out.add(hour)
        hour += timedelta(hours=1)
    return out


def expected_anomalies(rec: dict, walk: dict | None, knobs: dict, metrics: dict,
                       judged_before: datetime | None = None) -> dict:
    """{(hour, metric): verdict} for every hour the demo's ETL runs judged last with data the
    records describe: an hour's last judgement is in the run that loaded its last events, so the
    hours of the late batch (its events' hours, and the raw hours it was received in) are judged
    with it, every other hour without it (their baselines were complete when they were judged).
    A run judges only the hours that ended by its window end: an hour ending after
    `judged_before` (the last run's) is still queued, not judged (the walk's hour, say)."""
    on_time, full = hourly_metrics(rec, walk, with_late=False), hourly_metrics(rec, walk, with_late=True)
    late = rec.get("late") or {}
    late_hours = {_hour(k) for k in late.get("activity_by_hour", {})}
    if late.get("delivered"):
        late_hours |= _hours_between(late["delivered"]["sent_from"], late["delivered"]["sent_to"])

    def first(by_hour: dict) -> datetime:   # the warehouse's first data hour: non-bot activity's
        return min(h for h, m in by_hour.items() if m["events"][0] > 0)

    out = {}
    for hour in full.keys() | late_hours:
        if judged_before is not None and hour + timedelta(hours=1) > judged_before:
            continue
        by_hour = full if hour in late_hours else on_time
        for metric, cfg in metrics.items():
            verdict = quality.judge(by_hour, hour, metric, first_data_hour=first(by_hour), knobs=knobs, **cfg)
            if verdict is not None:
                out[(hour, metric)] = verdict
    return out


#: The ledger's daily figures (functions/etl/sql/daily_figures.sql) in a record's day figures.
_DAY_FIGURES = {
    "agg_activity_daily.events": lambda d: d["activity"]["events"],
    "agg_activity_daily.users": lambda d: d["activity"]["clients"],
    "agg_activity_daily.sessions": lambda d: d["activity"]["sessions"],
    "agg_activity_daily.page_views": lambda d: d["activity"]["by_name"].get("page_view", 0),
    "agg_funnel_daily.sessions": lambda d: d["started"]["sessions"],
    **{f"agg_funnel_daily.sessions_{step}": (lambda d, s=step: d["funnel"][s])
       for step in traffic.FUNNEL_STEPS},
    "agg_funnel_daily.orders": lambda d: d["purchases"]["orders"],
    "agg_funnel_daily.revenue": lambda d: round(d["purchases"]["revenue"], 2),
}


def expected_restatements(rec: dict) -> list[tuple[str, str, float, float]]:
    """(day, figure, before, after) of each daily figure the late batch changed: its day's figures
    without it and with it (the record's late section), as the ledger records them."""
    late = rec.get("late")
    if not late:
        return []
    out = []
    for figure, value in _DAY_FIGURES.items():
        before, after = value(late["before"]), value(late["after"])
        if before != after:
            out.append((late["day"], figure, before, after))
    return sorted(out)

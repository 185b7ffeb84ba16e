"""Plain-Python oracle of the data-quality figures (docs/warehouse-etl.md, "Data quality"): the
hourly metrics from raw events and raw objects, and the anomaly verdict for an hour, computed
without SQL so the tests can compare the warehouse with it."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime, timedelta

from tests.support.acquisition import event_bot_reason, event_is_bot, event_time, unique_events

WEEK = timedelta(days=7)


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def bot_share_by_reason(records: list[dict]) -> dict[tuple[datetime, str], tuple[int, float]]:
    """{(hour, reason): (bot events, share of the hour's events)}: a bot session's events under its
    first bot event's reason (by time, then event id)."""
    events = unique_events(records)
    first_reason: dict[str, tuple] = {}
    for eid, r in events.items():
        reason = event_bot_reason(r)
        key = (event_time(r), eid)
        if reason and (r["session_id"] not in first_reason or key < first_reason[r["session_id"]][0]):
            first_reason[r["session_id"]] = (key, reason)
    totals: dict[datetime, int] = defaultdict(int)
    bots: dict[tuple[datetime, str], int] = defaultdict(int)
    for r in events.values():
        hour = _hour(event_time(r))
        totals[hour] += 1
        if r["session_id"] in first_reason:
            bots[(hour, first_reason[r["session_id"]][1])] += 1
    return {k: (n, n / totals[k[0]]) for k, n in bots.items()}


def hourly_metrics(records: list[dict], lines_by_hour: dict[datetime, tuple[int, int]] | None = None) -> dict:
    """{hour: {metric: (value, volume)}} from the valid raw events (first copy of each event_id
    counts; a session is a bot session when any of its events is flagged) and, for the reject
    share, {raw object hour: (valid lines, rejected lines)}."""
    events = unique_events(records)
    bot_sessions = {r["session_id"] for r in events.values() if event_is_bot(r)}
    count = defaultdict(lambda: {"events": 0, "bot_events": 0, "sessions": set(), "purchases": 0})
    for r in events.values():
        bucket = count[_hour(event_time(r))]
        if r["session_id"] in bot_sessions:
            bucket["bot_events"] += 1
            continue
        bucket["events"] += 1
        bucket["sessions"].add(r["session_id"])
        bucket["purchases"] += r["event_name"] == "purchase"
    out: dict = defaultdict(dict)
    for hour, c in count.items():
        total = c["events"] + c["bot_events"]
        out[hour].update(events=(c["events"], None), sessions=(len(c["sessions"]), None),
                         purchases=(c["purchases"], None),
                         bot_share=(c["bot_events"] / total if total else None, total))
    for hour, (valid, rejected) in (lines_by_hour or {}).items():
        lines = valid + rejected
        out[hour]["reject_share"] = (rejected / lines if lines else None, lines)
    return out


def _value(metrics: dict, hour: datetime, metric: str, kind: str) -> tuple[float | None, float | None]:
    """An hour without a row counts 0 (counts) or has no share."""
    if metric in metrics.get(hour, {}):
        return metrics[hour][metric]
    return (0, None) if kind == "count" else (None, 0)


def judge(metrics: dict, hour: datetime, metric: str, *, kind: str, abs_floor: float, min_volume: float,
          first_data_hour: datetime, knobs: dict) -> dict | None:
    """The verdict for (hour, metric), or None when the hour is not judged."""
    def usable(h):
        value, volume = _value(metrics, h, metric, kind)
        if value is None or (volume is not None and volume < min_volume):
            return None
        return float(value)

    observed = usable(hour)
    period = timedelta(days=float(knobs["baseline_period_days"]))
    baseline = [v for n in range(1, int(knobs["baseline_periods"]) + 1)
                if (h := hour - n * period) >= first_data_hour and (v := usable(h)) is not None]
    if observed is None or len(baseline) < knobs["min_baseline_periods"]:
        return None
    expected = statistics.median(baseline)
    mad = statistics.median(abs(v - expected) for v in baseline)
    scale = max(1.4826 * mad, float(knobs["relative_floor"]) * abs(expected), float(abs_floor))
    threshold = float(knobs["threshold"])
    upper = expected + threshold * scale
    return {"observed": observed, "expected": expected, "score": (observed - expected) / scale,
            "lower_bound": max(expected - threshold * scale, 0.0),
            "upper_bound": min(upper, 1.0) if kind == "share" else upper,
            "flagged": abs(observed - expected) > threshold * scale}


#: The daily figures the restatement ledger watches, in the shapes tests/etl/support.recompute gives.
DAILY_FIGURES = {
    "agg_activity_daily": ("daily", ("events", "users", "sessions", "page_views")),
    "agg_funnel_daily": ("funnel", ("sessions", "sessions_page_view", "sessions_product_view",
                                    "sessions_add_to_cart", "sessions_begin_checkout", "sessions_purchase",
                                    "orders", "revenue")),
}


def daily_figures(recomputed: dict) -> dict:
    """{(day, table, figure): value} of a recomputation (a day without a row has no figures)."""
    out = {}
    for table, (shape, figures) in DAILY_FIGURES.items():
        for day, values in recomputed[shape].items():
            for figure, value in zip(figures, values, strict=True):
                out[(day, table, figure)] = value
    return out


def restatements(before: dict, after: dict, own_from: datetime) -> list[tuple]:
    """(day, table, figure, before, after) for each daily figure that changed between two
    recomputations on a day before `own_from` (the earliest raw hour of the load), sorted."""
    old, new = daily_figures(before), daily_figures(after)
    return sorted((day, table, figure, old.get(k, 0), new.get(k, 0))
                  for k in old.keys() | new.keys()
                  for day, table, figure in [k]
                  if day < own_from.date() and old.get(k, 0) != new.get(k, 0))


def detector_settings(conn) -> tuple[dict, dict]:
    """(knobs, {metric: judge()'s keyword arguments}) as the warehouse holds them (dq_settings,
    dq_metrics): the oracle judges with the same settings as the SQL, read, not restated."""
    with conn.cursor() as cur:
        cur.execute("SELECT name, value FROM dq_settings")
        knobs = {name: float(value) for name, value in cur.fetchall()}
        cur.execute("SELECT metric, kind, abs_floor, min_volume FROM dq_metrics")
        metrics = {metric: {"kind": kind, "abs_floor": float(floor), "min_volume": float(volume)}
                   for metric, kind, floor, volume in cur.fetchall()}
    return knobs, metrics

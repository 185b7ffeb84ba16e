"""Plain-Python oracle of the dashboards' headline figures (Activity, Conversion funnel, Products)
over the known data's raw events (tests/dashboard/known_data.py) and the sessions the one oracle
builds from them (acquisition.build_sessions, as dicts): what each value box shows for a range of
UTC days, recomputed without the warehouse. Previous-period changes and
Wilson intervals come from tests/support/compare.py over two of these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from tests.support import acquisition
from tests.support.acquisition import FUNNEL_STEPS
from tests.support.aggregates import recompute
from tests.support.compare import relative_change, wilson
from tests.support.revenue import BOOKED


def _in(day: date, first: date, last: date) -> bool:
    return first <= day <= last


#: The page filters (dashboard functions' p_channel, p_device_type, p_country): a session passes
#: when each filter given is its value (None: every value).
SEGMENT_KEYS = ("channel", "device_type", "country")


def in_segment(session: dict, segment: dict | None) -> bool:
    return not segment or all(session[k] == v for k, v in segment.items() if v is not None)


def human_sessions(data, first: date, last: date, segment: dict | None = None) -> list[dict]:
    """Non-bot sessions that started in [first, last] (a session belongs to its start day), of
    the segment if one is given."""
    return [s for s in data.sessions if not s["is_bot"] and _in(s["started_at"].date(), first, last)
            and in_segment(s, segment)]


def session_events(data, sessions: list[dict]) -> list[dict]:
    """The raw events of these sessions."""
    ids = {s["session_id"] for s in sessions}
    return [e for e in data.events if e["session_id"] in ids]


def human_events(data, first: date, last: date) -> list[dict]:
    return [e for e in data.human_events() if _in(e["event_timestamp"].date(), first, last)]


@dataclass(frozen=True)
class Overview:
    visitors: int            # distinct clients with a non-bot session started in the range
    new_visitors: int        # clients whose first-ever non-bot session started in it
    returning_visitors: int
    sessions: int            # non-bot sessions started in the range
    purchase_sessions: int   # of those, sessions with a purchase
    events: int              # non-bot events in the range

    @property
    def conversion(self) -> float | None:
        return self.purchase_sessions / self.sessions if self.sessions else None


def overview(data, first: date, last: date, segment: dict | None = None) -> Overview:
    """The overview; with a segment (page filters), of its sessions only: visitors are their
    clients, new visitors the clients whose first-ever session is one of them, events theirs."""
    sessions = human_sessions(data, first, last, segment)
    visitors = {s["client_id"] for s in sessions}
    if segment:
        ids = {s["session_id"] for s in sessions}
        new = {c["client_id"] for c in data.clients if c["first_session_id"] in ids}
        events = len(session_events(data, sessions))
    else:
        new = {c["client_id"] for c in data.clients if _in(c["first_started_at"].date(), first, last)}
        events = len(human_events(data, first, last))
    return Overview(visitors=len(visitors), new_visitors=len(new),
                    returning_visitors=len(visitors) - len(new),
                    sessions=len(sessions), purchase_sessions=sum(s["purchased"] for s in sessions),
                    events=events)


def funnel_sessions(data, first: date, last: date, segment: dict | None = None) -> dict[str, int]:
    """Sessions started in the range (of the segment) that reached each step (any order), by step
    (each session's acquisition.Session.funnel)."""
    sessions = human_sessions(data, first, last, segment)
    return {step: sum(s["funnel"][step] for s in sessions) for step in FUNNEL_STEPS}


def segment_days(data, first: date, last: date, segment: dict) -> list[tuple]:
    """Per day of the range, the segment's (day, events, visitors, sessions, purchase sessions,
    orders, tracked revenue) by the sessions that started that day."""
    out = []
    day = first
    while day <= last:
        sessions = human_sessions(data, day, day, segment)
        out.append((day, len(session_events(data, sessions)), len({s["client_id"] for s in sessions}),
                    len(sessions), sum(s["purchased"] for s in sessions), sum(s["orders"] for s in sessions),
                    sum((Decimal(str(s["revenue"])) for s in sessions), Decimal(0))))
        day += timedelta(days=1)
    return out


def audience(data, first: date, last: date, dimension: str, segment: dict | None = None) -> list[tuple]:
    """(value, sessions, visitors, orders) per value of a session column, most sessions first
    (acquisition.audience over the oracle's sessions)."""
    return [row[:4] for row in acquisition.audience(data.oracle, first, last, dimension, segment)]


def product_views(data, first: date, last: date, products: set[str] | None = None) -> tuple[int, int]:
    """(product views, add-to-carts) of non-bot events in the range, of `products` if given."""
    views = carts = 0
    for e in human_events(data, first, last):
        if products is not None and e["context_product_id"] not in products:
            continue
        views += e["event_name"] == "product_view"
        carts += e["event_name"] == "add_to_cart"
    return views, carts


def purchases(data, first: date, last: date) -> int:
    """Purchased order lines (items) of non-bot purchase events in the range."""
    return sum(len(e["order_items"] or []) for e in human_events(data, first, last)
               if e["event_name"] == "purchase")


def booked(data, first: date, last: date) -> tuple[int, Decimal]:
    """(orders, revenue) the shop booked (paid, shipped or delivered) on the range's UTC days."""
    orders = [o for o in data.booked_orders
              if o["status"] in BOOKED and _in(o["created_at"].date(), first, last)]
    return len(orders), sum((Decimal(str(o["total"])) for o in orders), Decimal(0))


@dataclass(frozen=True)
class RateChange:
    """A rate now and before: the change in points and whether the 95 % Wilson intervals are apart."""
    rate: float | None
    low: float | None
    high: float | None
    change: float | None
    significant: bool | None


def rate_change(successes: int, trials: int, previous_successes: int, previous_trials: int) -> RateChange:
    now = wilson(successes, trials)
    before = wilson(previous_successes, previous_trials)
    rate = successes / trials if trials else None
    previous = previous_successes / previous_trials if previous_trials else None
    change = rate - previous if rate is not None and previous is not None else None
    significant = None if now is None or before is None else (now[1] < before[0] or before[1] < now[0])
    return RateChange(rate, now[0] if now else None, now[1] if now else None, change, significant)


def change(current, previous) -> float | None:
    """The relative change as a float; None without a finite ratio."""
    return relative_change(float(current), float(previous))


def activity(records: list[dict], first: date, last: date) -> dict:
    """What dashboard.activity_summary, funnel, activity_hourly and activity_daily show for
    [first, last], from the raw events (aggregates.recompute: non-bot sessions and their events):
    events (of the range's UTC days), sessions (that started in it), the busiest hour's users and
    events, the busiest day's users and that day (the earliest of a tie), the funnel's sessions
    per step, orders and revenue, {hour: (events, users, sessions)} of the hours with events, and
    per day {events, users, sessions (started that day), peak_hour_users}."""
    agg = recompute(records)
    hourly = {h: v[:3] for h, v in agg["hourly"].items() if first <= h.date() <= last}
    started = {d: v for d, v in agg["funnel"].items() if first <= d <= last}
    daily = {}
    day = first
    while day <= last:
        events, users, _sessions, _views = agg["daily"].get(day, (0, 0, 0, 0))
        daily[day.isoformat()] = {"events": events, "users": users,
                                  "sessions": started.get(day, (0,))[0],
                                  "peak_hour_users": max((v[1] for h, v in hourly.items() if h.date() == day),
                                                         default=0)}
        day += timedelta(days=1)
    peak_day_users = max(d["users"] for d in daily.values())
    return {"events": sum(v[0] for v in hourly.values()),
            "sessions": sum(v[0] for v in started.values()),
            "peak_hour_users": max(v[1] for v in hourly.values()),
            "peak_hour_events": max(v[0] for v in hourly.values()),
            "peak_day_users": peak_day_users,
            "peak_day": min(date.fromisoformat(d) for d, v in daily.items() if v["users"] == peak_day_users),
            "funnel": {step: sum(v[1 + i] for v in started.values()) for i, step in enumerate(FUNNEL_STEPS)},
            "orders": sum(v[6] for v in started.values()),
            "revenue": sum(v[7] for v in started.values()),
            "hourly": hourly, "daily": daily}

"""The plain-Python recomputation of sessions and aggregates from the raw events (docs/warehouse-etl.md):
the sessions are the one oracle's (acquisition.build_sessions); the funnel, product, hourly and
daily aggregates are built from them here. The ETL tests compare the warehouse with it
(tests/etl/support.warehouse_state gives the same shapes), the end-to-end tests the dashboards'
figures over the raw bucket."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from tests.support.acquisition import build_sessions, event_time, unique_events


def _dec(v) -> Decimal:
    return Decimal(repr(v)) if v is not None else Decimal(0)


#: The session columns the ETL tests compare (warehouse_state reads the same from `sessions`).
SESSION_KEYS = ("client_id", "user_id", "started_at", "ended_at", "events", "page_views", "product_views",
                "entry_page", "exit_page", "reached_cart", "reached_checkout", "purchased", "orders",
                "revenue", "is_bot", "reached_product", "landing_referrer", "is_first_visit", "logged_in",
                "duration_s")


def recompute(records: list[dict]) -> dict:  # noqa: PLR0912 - mirrors the SQL, one rule after another
    """sessions, funnel, product, hourly and daily aggregates from the (valid) raw records, per the
    docs; the sessions are the one oracle's (tests/support/acquisition.build_sessions)."""
    by_session = defaultdict(list)
    for eid, r in unique_events(records).items():
        by_session[r["session_id"]].append((event_time(r), eid, r))
    built = build_sessions(records, category_of={})
    sessions = {sid: {key: getattr(s, key) for key in SESSION_KEYS} for sid, s in built.items()}
    funnel = defaultdict(lambda: [0] * 6 + [0, Decimal(0)])
    for s in built.values():
        if s.is_bot:
            continue
        f = funnel[s.day]
        f[0] += 1
        for i, reached in enumerate(s.funnel.values(), start=1):
            f[i] += reached
        f[6] += s.orders
        f[7] += s.revenue
    hourly = defaultdict(lambda: {"events": 0, "users": set(), "sessions": set(), "page_views": 0})
    daily = defaultdict(lambda: {"events": 0, "users": set(), "sessions": set(), "page_views": 0})
    product = defaultdict(lambda: {"views": 0, "add_to_carts": 0, "purchases": 0, "units": 0,
                                   "revenue": Decimal(0), "latest": None})
    for sid, evs in by_session.items():
        if sessions[sid]["is_bot"]:
            continue
        for at, eid, r in evs:
            for h in (hourly[at.replace(minute=0, second=0, microsecond=0)], daily[at.date()]):
                h["events"] += 1
                h["users"].add(r["client_id"])
                h["sessions"].add(sid)
                h["page_views"] += r["event_name"] == "page_view"
            day = at.date()
            if r["event_name"] in ("product_view", "add_to_cart"):
                p = r["context"]["product"]
                row = product[(day, p["id"])]
                row["views" if r["event_name"] == "product_view" else "add_to_carts"] += 1
                if row["latest"] is None or (at, eid) > row["latest"][0]:
                    row["latest"] = ((at, eid), (p.get("name"), p.get("category"), p.get("brand")))
            if r["event_name"] == "purchase":
                seen = set()
                for item in r["context"]["order"].get("items", []):
                    row = product[(day, item["product_id"])]
                    if item["product_id"] not in seen:
                        row["purchases"] += 1
                        seen.add(item["product_id"])
                    row["units"] += item["quantity"]
                    row["revenue"] += item["quantity"] * _dec(item.get("price"))
    return {
        "sessions": sessions,
        "funnel": {day: tuple(v) for day, v in funnel.items()},
        "hourly": {h: (v["events"], len(v["users"]), len(v["sessions"]), v["page_views"])
                   for h, v in hourly.items()},
        "daily": {d: (v["events"], len(v["users"]), len(v["sessions"]), v["page_views"])
                  for d, v in daily.items()},
        "product": {k: ((v["latest"][1] if v["latest"] else (None, None, None)),
                        v["views"], v["add_to_carts"], v["purchases"], v["units"], v["revenue"])
                    for k, v in product.items()},
    }

"""Plain-Python oracle of the booked-revenue reconciliation (docs/warehouse-etl.md, "Booked
revenue"): the shop's orders beside the purchases the raw events report, per UTC day."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, timedelta
from decimal import Decimal

from tests.support.acquisition import LOOKBACK, Session, event_is_bot, event_time, unique_events

BOOKED = ("paid", "shipped", "delivered")


def tracked_purchases(records: list[dict]) -> dict[str, dict]:
    """order_id -> its first purchase event of a non-bot session (by time, then event id)."""
    events = unique_events(records)
    bots = {r["session_id"] for r in events.values() if event_is_bot(r)}
    first: dict[str, tuple] = {}
    for eid, r in events.items():
        order = (r.get("context") or {}).get("order") or {}
        if r["event_name"] != "purchase" or r["session_id"] in bots or not order.get("order_id"):
            continue
        key = (event_time(r), eid)
        if order["order_id"] not in first or key < first[order["order_id"]][0]:
            first[order["order_id"]] = (key, r)
    return {oid: {"at": key[0], "revenue": Decimal(repr(r["context"]["order"]["revenue"])),
                  "session_id": r["session_id"]} for oid, (key, r) in first.items()}


def reconciliation(orders: list[dict], records: list[dict], first: date, last: date) -> list[tuple]:
    """Rows of dashboard.revenue_reconciliation(first, last); `orders` are dicts with order_id,
    status, total (Decimal) and created_at (aware datetime)."""
    by_id = {o["order_id"]: o for o in orders}
    tracked = tracked_purchases(records)
    rows = defaultdict(lambda: {"booked": 0, "revenue": Decimal(0), "refunded": Decimal(0), "tracked": 0,
                                "tracked_revenue": Decimal(0), "matched": 0, "booked_tracked": 0,
                                "unbooked": 0})
    for o in orders:
        row = rows[o["created_at"].astimezone(UTC).date()]
        if o["status"] in BOOKED:
            row["booked"] += 1
            row["revenue"] += o["total"]
            row["booked_tracked"] += o["order_id"] in tracked
        elif o["status"] == "refunded":
            row["refunded"] += o["total"]
    for order_id, t in tracked.items():
        order = by_id.get(order_id)
        row = rows[(order["created_at"] if order else t["at"]).astimezone(UTC).date()]
        row["tracked"] += 1
        row["tracked_revenue"] += t["revenue"]
        row["matched"] += bool(order) and order["status"] in (*BOOKED, "refunded")
        row["unbooked"] += order is None
    out = []
    day = first
    while day <= last:
        r = rows[day]
        coverage = Decimal(r["booked_tracked"]) / r["booked"] if r["booked"] else None
        out.append((day, r["booked"], r["revenue"], r["refunded"], r["tracked"], r["tracked_revenue"],
                    r["matched"], r["booked"] - r["booked_tracked"], r["unbooked"], coverage))
        day += timedelta(days=1)
    return out


COVERAGE_DIMENSIONS = {"channel": lambda s: s.channel, "device_type": lambda s: s.device_type,
                       "browser": lambda s: s.browser_family}


def tracking_coverage(orders: list[dict], records: list[dict], sessions: dict[str, Session],
                      days: tuple[date, date], dimension: str) -> list[tuple]:
    """Rows of dashboard.tracking_coverage: booked orders of the range by the value of the
    purchasing session, or for an untracked order of its buyer's latest non-bot session of the
    30 days before it (``orders`` have user_id too; ``sessions`` from acquisition.build_sessions)."""
    first, last = days
    tracked = tracked_purchases(records)
    value_of = COVERAGE_DIMENSIONS[dimension]
    rows: dict = defaultdict(lambda: [0, 0])
    for o in orders:
        created = o["created_at"].astimezone(UTC)
        if o["status"] not in BOOKED or not first <= created.date() <= last:
            continue
        if o["order_id"] in tracked:
            session = sessions[tracked[o["order_id"]]["session_id"]]
        else:
            recent = [s for s in sessions.values() if not s.is_bot and s.user_id == o["user_id"]
                      and created - LOOKBACK <= s.started_at <= created]
            session = max(recent, key=lambda s: (s.started_at, s.session_id)) if recent else None
        row = rows[value_of(session) if session else None]
        row[0] += 1
        row[1] += o["order_id"] in tracked
    out = [(value, n, matched, Decimal(matched) / Decimal(n)) for value, (n, matched) in rows.items()]
    return sorted(out, key=lambda r: (-r[1], r[0] is None, r[0] or ""))


def product_attributes(records: list[dict]) -> dict[str, tuple[str | None, str | None]]:
    """product id -> (category, brand) of its latest product view or add to cart (by time, then
    event id) of a non-bot session: what the booked items are filtered and grouped by."""
    events = unique_events(records)
    bots = {r["session_id"] for r in events.values() if event_is_bot(r)}
    latest: dict[str, tuple] = {}
    for _eid, r in sorted(events.items(), key=lambda item: (event_time(item[1]), item[0])):
        product = (r.get("context") or {}).get("product") or {}
        if r["event_name"] in ("product_view", "add_to_cart") and r["session_id"] not in bots \
                and product.get("id"):
            latest[product["id"]] = (product.get("category"), product.get("brand"))
    return latest


def booked_items(orders: list[dict], items: list[dict], attributes: dict[str, tuple[str, str]],
                 days: tuple[date, date], *, category: str | None = None,
                 brand: str | None = None) -> list[dict]:
    """dashboard.booked_items: the items (order_id, product_id, quantity, unit_price) of the orders
    paid, shipped or delivered that were created on a UTC day of the range, each with its
    product's (category, brand) from ``attributes`` (the product's latest non-bot view or
    add-to-cart event; a product missing there matches no filter) and revenue = quantity x price."""
    first, last = days
    booked = {o["order_id"] for o in orders
              if o["status"] in BOOKED and first <= o["created_at"].astimezone(UTC).date() <= last}
    out = []
    for i in items:
        cat, brd = attributes.get(i["product_id"], (None, None))
        if i["order_id"] not in booked or (category and cat != category) or (brand and brd != brand):
            continue
        out.append({"order_id": i["order_id"], "product_id": i["product_id"], "category": cat,
                    "quantity": i["quantity"], "revenue": i["quantity"] * Decimal(str(i["unit_price"]))})
    return out


def booked_by(rows: list[dict], key: str) -> dict:
    """key value -> (units, revenue) of booked_items() rows."""
    out: dict = defaultdict(lambda: [0, Decimal(0)])
    for r in rows:
        out[r[key]][0] += r["quantity"]
        out[r[key]][1] += r["revenue"]
    return {k: tuple(v) for k, v in out.items()}

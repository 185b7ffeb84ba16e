"""Test data for the ETL: realistic raw lines, raw objects in S3, and the warehouse's sessions and
aggregates in the shapes of the plain-Python recomputation (tests/support/aggregates.py)."""

from __future__ import annotations

import gzip
import json
import os
import random
import socket
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from functions.raw_layout import hour_prefix, object_key
from tests.support.aggregates import SESSION_KEYS
from tests.support.events import ingested, seeded_event

PRODUCTS = [
    ("LAP-001", "UltraBook 14", "laptops", "Acme", 1299.0, 1199.0),
    ("MON-027", "27in 4K Monitor", "monitors", "Viewpoint", 399.99, None),
    ("GPU-4070", "RTX 4070 12GB", "gpus", "Nvidia", 599.0, 579.5),
    ("KEY-101", "Mechanical Keyboard", "keyboards", "Clicky", 89.9, None),
    ("SSD-2TB", "NVMe SSD 2TB", "storage", "Fastdisk", 149.0, 129.0),
]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def make_event(name: str, at: datetime, session: dict, *, product=None, order=None, path=None,
               bot: bool = False, **extra) -> dict:
    """A raw line's record of a seeded session (tests/support/events)."""
    context = None
    if product is not None:
        pid, pname, cat, brand, price, discount = product
        context = {"product": {"id": pid, "name": pname, "category": cat, "brand": brand,
                               "price": price, "url_path": f"/p/{pid.lower()}"}}
        if discount is not None:
            context["product"]["discount_price"] = discount
    if order is not None:
        context = {"order": order}
    event = seeded_event(
        session["rng"], name, event_timestamp=iso(at), user_id=session["user_id"],
        client_id=session["client_id"], session_id=session["session_id"],
        is_first_visit=session["first"] and name == "page_view",
        page={"url": f"https://shop.example{path or '/'}", "path": path or "/", "title": "Shop",
              "referrer": "https://search.example/"},
        context=context)
    record = ingested(event, session["rng"], received_at=iso(at + timedelta(seconds=2)),
                      source_ip="203.0.113.0",
                      user_agent="Googlebot/2.1" if bot else "Mozilla/5.0 (X11; Linux x86_64)", is_bot=bot)
    record.update(extra)
    return record


def make_session(rng: random.Random, start: datetime, *, bot: bool = False, depth: int | None = None,
                 logged_in: bool | None = None) -> list[dict]:
    """One shopper's session: page_view -> product_view(s) -> add_to_cart -> begin_checkout -> purchase,
    cut off at a random depth (1..5) like a real funnel."""
    signed_in = logged_in if logged_in is not None else rng.random() < 0.4
    session = {
        "rng": rng, "session_id": f"s-{rng.getrandbits(48):012x}",
        "client_id": f"c-{rng.getrandbits(40):010x}",
        "user_id": f"u-{rng.getrandbits(32):08x}" if signed_in else None,
        "first": rng.random() < 0.3,
    }
    depth = depth or rng.choice([1, 2, 2, 3, 3, 4, 5])
    at = start
    events = [make_event("page_view", at, session, path="/", bot=bot)]
    cart = []
    if depth >= 2:
        for product in rng.sample(PRODUCTS, rng.randint(1, 3)):
            at += timedelta(seconds=rng.randint(5, 120))
            events.append(make_event("product_view", at, session, product=product,
                                     path=f"/p/{product[0].lower()}", bot=bot))
            if depth >= 3 and rng.random() < 0.7:
                at += timedelta(seconds=rng.randint(5, 60))
                events.append(make_event("add_to_cart", at, session, product=product,
                                         path=f"/p/{product[0].lower()}", bot=bot))
                cart.append(product)
    if depth >= 4 and cart:
        at += timedelta(seconds=rng.randint(10, 90))
        events.append(make_event("begin_checkout", at, session, path="/checkout", bot=bot))
        if depth >= 5:
            at += timedelta(seconds=rng.randint(10, 90))
            items = [{"product_id": p[0], "quantity": rng.randint(1, 2), "price": p[5] or p[4]} for p in cart]
            revenue = round(sum(i["quantity"] * i["price"] for i in items), 2)
            order = {"order_id": f"o-{rng.getrandbits(32):08x}", "revenue": revenue, "currency": "USD",
                     "items": items}
            events.append(make_event("purchase", at, session, order=order, path="/checkout/done", bot=bot))
    return events


def make_traffic(seed: int, start: datetime, sessions: int, spread: timedelta, bot_share: float = 0.1):
    rng = random.Random(seed)
    out = []
    for _ in range(sessions):
        at = start + timedelta(seconds=rng.uniform(0, spread.total_seconds()))
        out.extend(make_session(rng, at.replace(microsecond=rng.randint(0, 999) * 1000),
                                bot=rng.random() < bot_share))
    return out


def hour_of(record: dict) -> datetime:
    at = datetime.fromisoformat(record["received_at"].replace("Z", "+00:00"))
    return at.replace(minute=0, second=0, microsecond=0)


def encode_lines(records: list) -> bytes:
    out = []
    for r in records:
        if isinstance(r, bytes):
            out.append(r)
        elif isinstance(r, str):
            out.append(r.encode())
        else:
            out.append(json.dumps(r).encode())
    return b"\n".join(out) + b"\n"


def put_object(s3, bucket: str, hour: datetime, records: list, *, gz: bool = False, name: str | None = None,
               body: bytes | None = None) -> str:
    key = hour_prefix(hour) + name if name else object_key(hour, suffix=".json.gz" if gz else ".json")
    data = body if body is not None else encode_lines(records)
    if gz and body is None:
        data = gzip.compress(data)
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    return key


def put_by_hour(s3, bucket: str, records: list[dict], per_object: int = 50) -> list[str]:
    """Write records as the ingest function would: by receive hour, several objects per hour."""
    by_hour = defaultdict(list)
    for r in records:
        by_hour[hour_of(r)].append(r)
    keys = []
    for hour, rows in sorted(by_hour.items()):
        for i in range(0, len(rows), per_object):
            keys.append(put_object(s3, bucket, hour, rows[i:i + per_object]))
    return keys


def warehouse_state(conn) -> dict:
    """The same shapes, read from the warehouse."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT session_id, {', '.join(SESSION_KEYS)} FROM sessions")  # noqa: S608 - fixed names
        sessions = {row[0]: dict(zip(SESSION_KEYS, row[1:], strict=True)) for row in cur.fetchall()}
        cur.execute("SELECT day, sessions, sessions_page_view, sessions_product_view, sessions_add_to_cart,"
                    " sessions_begin_checkout, sessions_purchase, orders, revenue FROM agg_funnel_daily")
        funnel = {row[0]: tuple(row[1:]) for row in cur.fetchall()}
        cur.execute("SELECT hour, events, users, sessions, page_views FROM agg_activity_hourly")
        hourly = {row[0]: tuple(row[1:]) for row in cur.fetchall()}
        cur.execute("SELECT day, events, users, sessions, page_views FROM agg_activity_daily")
        daily = {row[0]: tuple(row[1:]) for row in cur.fetchall()}
        cur.execute("SELECT day, product_id, product_name, product_category, product_brand, views,"
                    " add_to_carts, purchases, units, revenue FROM agg_product_daily")
        product = {(r[0], r[1]): ((r[2], r[3], r[4]), *r[5:]) for r in cur.fetchall()}
    return {"sessions": sessions, "funnel": funnel, "hourly": hourly, "daily": daily, "product": product}


def event_ids(conn) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT event_id::text FROM clickstream_events")
        return {r[0] for r in cur.fetchall()}


def keepalive_options(conn) -> dict[str, int]:
    """What the kernel has on the connection's socket (not what was asked for)."""
    sock = socket.socket(fileno=os.dup(conn.fileno()))
    with sock:
        return {"keepalives": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                "keepalives_idle": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                "keepalives_interval": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
                "keepalives_count": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)}

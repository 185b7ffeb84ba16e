"""A small, fixed warehouse the dashboard tests read: events, their sessions and aggregates.

`build()` makes the same data every time (a seeded generator): three UTC days of shoppers
walking page_view -> product_view -> add_to_cart -> begin_checkout -> purchase with drop-off,
one bot session (which every dashboard must ignore), and ETL bookkeeping (runs, a file
manifest, rejects). Sessions and aggregates are derived here in plain Python with the
meanings the warehouse schema documents, so tests can compare the dashboard SQL with an
independent computation. `load(conn, data)` writes it with COPY.
"""

from __future__ import annotations

import io
import json
import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from psycopg2 import sql

from functions.raw_layout import object_key

DAYS = (date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4))
FIRST_DAY, LAST_DAY = DAYS[0], DAYS[-1]

PRODUCTS = (
    # id, name, category, brand, price
    ("LAP-001", "Lenovo ThinkPad X1 Carbon", "Laptops", "Lenovo", 1549.00),
    ("LAP-003", "Dell XPS 13", "Laptops", "Dell", 899.00),
    ("MON-001", "Dell UltraSharp 27 4K", "Monitors", "Dell", 459.99),
    ("GPU-001", "NVIDIA GeForce RTX 4070", "GPUs", "NVIDIA", 599.00),
    ("KEY-001", "Logitech MX Keys", "Keyboards", "Logitech", 99.99),
)

EVENT_COLUMNS = (
    "event_id",
    "event_timestamp",
    "event_name",
    "user_id",
    "user_login_state",
    "identity_source",
    "client_id",
    "session_id",
    "is_first_visit",
    "context_product_id",
    "context_product_name",
    "context_product_category",
    "context_product_brand",
    "context_product_price",
    "context_product_discount_price",
    "context_product_url_path",
    "page_url",
    "page_path",
    "page_title",
    "page_referrer",
    "order_id",
    "order_revenue",
    "order_currency",
    "order_items",
    "received_at",
    "is_bot",
    "source_key",
)
FUNNEL_STEPS = ("page_view", "product_view", "add_to_cart", "begin_checkout", "purchase")


@dataclass
class KnownData:
    events: list[dict] = field(default_factory=list)
    sessions: list[dict] = field(default_factory=list)
    funnel_daily: list[dict] = field(default_factory=list)
    product_daily: list[dict] = field(default_factory=list)
    activity_hourly: list[dict] = field(default_factory=list)
    activity_daily: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    manifest: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    activity_session_hours: list[dict] = field(default_factory=list)
    booked_orders: list[dict] = field(default_factory=list)
    booked_order_items: list[dict] = field(default_factory=list)
    clients: list[dict] = field(default_factory=list)
    anomalies: list[dict] = field(default_factory=list)
    restatements: list[dict] = field(default_factory=list)

    def human_events(self) -> list[dict]:
        bots = {s["session_id"] for s in self.sessions if s["is_bot"]}
        return [e for e in self.events if e["session_id"] not in bots]


def _event(
    rng: random.Random,
    ts: datetime,
    name: str,
    *,
    client: str,
    session: str,
    user: str | None,
    page: str,
    product: tuple | None = None,
    order: dict | None = None,
    bot: bool = False,
    first: bool = False,
) -> dict:
    ev = dict.fromkeys(EVENT_COLUMNS)
    ev.update(
        event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        event_timestamp=ts,
        event_name=name,
        user_id=user,
        user_login_state="logged_in" if user else "guest",
        identity_source="cognito" if user else "anonymous",
        client_id=client,
        session_id=session,
        is_first_visit=first,
        page_url=f"https://shop.example{page}",
        page_path=page,
        page_title=page.strip("/") or "Home",
        page_referrer=None,
        received_at=ts + timedelta(seconds=2),
        is_bot=bot,
        source_key=object_key(ts, uuid.UUID(int=rng.getrandbits(128), version=4)),
    )
    if product:
        pid, pname, cat, brand, price = product
        ev.update(
            context_product_id=pid,
            context_product_name=pname,
            context_product_category=cat,
            context_product_brand=brand,
            context_product_price=price,
            context_product_discount_price=price,
            context_product_url_path=f"/products/{pid.lower()}",
        )
    if order:
        ev.update(
            order_id=order["order_id"],
            order_revenue=order["revenue"],
            order_currency="USD",
            order_items=order["items"],
        )
    return ev


def _session_events(
    rng: random.Random,
    start: datetime,
    *,
    client: str,
    session: str,
    user: str | None,
    first: bool,
    bot: bool = False,
) -> list[dict]:
    """One shopper's visit: landing page, some browsing, and the funnel with drop-off."""
    t = start
    out = []

    def step(name, page, product=None, order=None, gap=(20, 90)):
        nonlocal t
        out.append(
            _event(
                rng,
                t,
                name,
                client=client,
                session=session,
                user=user,
                page=page,
                product=product,
                order=order,
                bot=bot,
                first=first and not out,
            )
        )
        t += timedelta(seconds=rng.randint(*gap))

    landing = rng.choice(["/", "/", "/category/laptops", "/category/monitors", "/search"])
    step("page_view", landing)
    if rng.random() < 0.25 and not bot:
        return out  # bounce
    if rng.random() < 0.3:
        step("page_view", rng.choice(["/category/gpus", "/deals", "/"]))
    product = rng.choice(PRODUCTS)
    step("product_view", f"/products/{product[0].lower()}", product)
    if rng.random() < 0.4:
        other = rng.choice(PRODUCTS)
        step("product_view", f"/products/{other[0].lower()}", other)
    if rng.random() < 0.4:
        return out
    step("add_to_cart", f"/products/{product[0].lower()}", product)
    if rng.random() < 0.35:
        return out
    step("begin_checkout", "/checkout")
    if rng.random() < 0.3:
        return out
    qty = rng.choice([1, 1, 2])
    order = {
        "order_id": f"ORD-{session[-6:]}",
        "revenue": round(qty * product[4], 2),
        "items": [{"product_id": product[0], "quantity": qty, "price": product[4]}],
    }
    step("purchase", "/checkout/complete", None, order)
    return out


def build(seed: int = 20260302) -> KnownData:
    rng = random.Random(seed)
    data = KnownData()
    clients = [f"client-{i:03d}" for i in range(18)]
    seen_clients: set[str] = set()
    n = 0
    for day_index, day in enumerate(DAYS):
        for _ in range(10 + 4 * day_index):
            n += 1
            client = rng.choice(clients)
            user = f"user-{client[-3:]}" if rng.random() < 0.4 else None
            start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
                hours=rng.choice([9, 10, 10, 11, 14, 15, 20, 23]),
                minutes=rng.randint(0, 58),
                seconds=rng.randint(0, 59),
            )
            data.events += _session_events(
                rng,
                start,
                client=client,
                session=f"sess-{n:04d}",
                user=user,
                first=client not in seen_clients,
            )
            seen_clients.add(client)
    # A crawler: many page views in one session, excluded from every figure.
    bot_start = datetime(DAYS[1].year, DAYS[1].month, DAYS[1].day, 10, 5, tzinfo=UTC)
    for i in range(12):
        data.events.append(
            _event(
                rng,
                bot_start + timedelta(seconds=3 * i),
                "page_view",
                client="client-bot",
                session="sess-bot",
                user=None,
                page=f"/products/p{i}",
                bot=True,
            )
        )
    data.events.sort(key=lambda e: (e["event_timestamp"], e["event_id"]))
    _derive(data)
    _acquisition(random.Random(seed + 15), data)
    _bookkeeping(rng, data)
    return data


#: What the ETL derives for a session from its landing event and user agent (tests/etl covers the
#: derivation itself): (channel, source, medium, campaign, referrer_host), each browser's
#: (device_type, browser_family, os_family, country).
ACQUISITION = (
    ("Direct", "(direct)", "(none)", None, None),
    ("Organic Search", "google", "organic", None, "google.com"),
    ("Paid Search", "google", "cpc", "spring-sale", "google.com"),
    ("Email", "newsletter", "email", "march-deals", None),
    ("Referral", "techblog.example", "referral", None, "techblog.example"),
    ("Organic Social", "reddit.com", "referral", None, "reddit.com"),
)
DEVICES = (("desktop", "Chrome", "Windows", "DE"), ("mobile", "Mobile Safari", "iOS", "US"),
           ("mobile", "Chrome Mobile", "Android", "GB"), ("tablet", "Mobile Safari", "iOS", None))


def _acquisition(rng: random.Random, data: KnownData) -> None:
    """The acquisition and audience columns of the sessions, `clients` and `is_returning` (from a
    separate random stream: the other figures stay as they were)."""
    devices = {c: rng.choice(DEVICES) for c in sorted({s["client_id"] for s in data.sessions})}
    users: dict[str, set] = defaultdict(set)
    for e in data.events:
        if e["user_id"]:
            users[e["session_id"]].add(e["user_id"])
    firsts: dict[str, dict] = {}
    for s in sorted(data.sessions, key=lambda s: (s["started_at"], s["session_id"])):
        channel, source, medium, campaign, referrer = rng.choice(ACQUISITION)
        device, browser, os_family, country = devices[s["client_id"]]
        s.update(channel=channel, source=source, medium=medium, campaign=campaign, referrer_host=referrer,
                 device_type=device, browser_family=browser, os_family=os_family, country=country,
                 landing_path=s["entry_page"], user_ids="{" + ",".join(sorted(users[s["session_id"]])) + "}"
                 if users[s["session_id"]] else None,
                 is_returning=not s["is_bot"] and s["client_id"] in firsts)
        if not s["is_bot"]:
            firsts.setdefault(s["client_id"], s)
    data.clients = [{"client_id": c, "first_session_id": s["session_id"], "first_started_at": s["started_at"]}
                    for c, s in sorted(firsts.items())]


def _day(ts: datetime) -> date:
    return ts.astimezone(UTC).date()


def _derive(data: KnownData) -> None:
    by_session: dict[str, list[dict]] = defaultdict(list)
    for e in data.events:
        by_session[e["session_id"]].append(e)
    # Per (UTC hour, session): its events and page views, with the session's bot flag.
    bot_sessions = {e["session_id"] for e in data.events if e["is_bot"]}
    per_hour: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for e in data.events:
        hour = e["event_timestamp"].replace(minute=0, second=0, microsecond=0)
        key = (hour, e["session_id"], e["client_id"])
        per_hour[key][0] += 1
        per_hour[key][1] += e["event_name"] == "page_view"
    data.activity_session_hours = [
        {"hour": hour, "session_id": sid, "client_id": cid, "events": n, "page_views": views,
         "is_bot": sid in bot_sessions}
        for (hour, sid, cid), (n, views) in sorted(per_hour.items())]
    for sid, evs in sorted(by_session.items()):
        evs.sort(key=lambda e: (e["event_timestamp"], e["event_id"]))
        names = [e["event_name"] for e in evs]
        pages = [e["page_path"] for e in evs if e["page_path"]]
        purchases = [e for e in evs if e["event_name"] == "purchase"]
        users = [e["user_id"] for e in evs if e["user_id"]]
        steps = [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]
        data.sessions.append(
            {
                "session_id": sid,
                "client_id": evs[0]["client_id"],
                "user_id": users[-1] if users else None,
                "started_at": evs[0]["event_timestamp"],
                "ended_at": evs[-1]["event_timestamp"],
                "duration_s": (evs[-1]["event_timestamp"] - evs[0]["event_timestamp"]).total_seconds(),
                "events": len(evs),
                "page_views": names.count("page_view"),
                "product_views": names.count("product_view"),
                "entry_page": pages[0] if pages else None,
                "exit_page": pages[-1] if pages else None,
                "landing_referrer": None,
                "is_first_visit": any(e["is_first_visit"] for e in evs),
                "logged_in": any(e["user_login_state"] == "logged_in" for e in evs),
                "reached_product": "product_view" in names,
                "reached_cart": "add_to_cart" in names,
                "reached_checkout": "begin_checkout" in names,
                "purchased": bool(purchases),
                "orders": len(purchases),
                "revenue": round(sum(e["order_revenue"] for e in purchases), 2),
                "is_bot": any(e["is_bot"] for e in evs),
                # the ETL's steps: event names, repeats in a row collapsed (COPY's array text)
                "steps": "{" + ",".join(steps[:12]) + "}",
                "step_count": len(steps),
            }
        )
    human = [s for s in data.sessions if not s["is_bot"]]
    human_ids = {s["session_id"] for s in human}
    names_by_session = {sid: {e["event_name"] for e in evs} for sid, evs in by_session.items()}

    funnel: dict[date, Counter] = defaultdict(Counter)
    for s in human:
        c = funnel[_day(s["started_at"])]
        c["sessions"] += 1
        for step in FUNNEL_STEPS:
            c[f"sessions_{step}"] += step in names_by_session[s["session_id"]]
        c["orders"] += s["orders"]
        c["revenue"] += s["revenue"]
    data.funnel_daily = [
        {
            "day": d,
            **{k: c[k] for k in ("sessions", *(f"sessions_{s}" for s in FUNNEL_STEPS), "orders")},
            "revenue": round(c["revenue"], 2),
        }
        for d, c in sorted(funnel.items())
    ]

    products = {p[0]: p for p in PRODUCTS}
    prod: dict[tuple[date, str], Counter] = defaultdict(Counter)
    hourly: dict[datetime, dict] = {}
    daily: dict[date, dict] = {}
    for e in data.events:
        if e["session_id"] not in human_ids:
            continue
        d = _day(e["event_timestamp"])
        if e["event_name"] in ("product_view", "add_to_cart"):
            key = "views" if e["event_name"] == "product_view" else "add_to_carts"
            prod[(d, e["context_product_id"])][key] += 1
        if e["event_name"] == "purchase":
            for item in e["order_items"]:
                c = prod[(d, item["product_id"])]
                c["purchases"] += 1
                c["units"] += item["quantity"]
                c["revenue"] += item["quantity"] * item["price"]
        hour = e["event_timestamp"].replace(minute=0, second=0, microsecond=0)
        for h in (hourly.setdefault(hour, {"events": 0, "users": set(), "sessions": set(), "page_views": 0}),
                  daily.setdefault(d, {"events": 0, "users": set(), "sessions": set(), "page_views": 0})):
            h["events"] += 1
            h["users"].add(e["client_id"])
            h["sessions"].add(e["session_id"])
            h["page_views"] += e["event_name"] == "page_view"
    data.product_daily = [
        {
            "day": d,
            "product_id": pid,
            "product_name": products[pid][1],
            "product_category": products[pid][2],
            "product_brand": products[pid][3],
            "views": c["views"],
            "add_to_carts": c["add_to_carts"],
            "purchases": c["purchases"],
            "units": c["units"],
            "revenue": round(c["revenue"], 2),
        }
        for (d, pid), c in sorted(prod.items())
    ]
    data.activity_hourly = [
        {
            "hour": h,
            "events": v["events"],
            "users": len(v["users"]),
            "sessions": len(v["sessions"]),
            "page_views": v["page_views"],
        }
        for h, v in sorted(hourly.items())
    ]
    data.activity_daily = [
        {
            "day": d,
            "events": v["events"],
            "users": len(v["users"]),
            "sessions": len(v["sessions"]),
            "page_views": v["page_views"],
        }
        for d, v in sorted(daily.items())
    ]


def _bookkeeping(rng: random.Random, data: KnownData) -> None:
    """Three hourly ETL runs on the last day (the middle one failed), the files they loaded, rejects."""
    base = datetime(LAST_DAY.year, LAST_DAY.month, LAST_DAY.day, 21, tzinfo=UTC)
    data.runs = [
        {
            "run_id": 1,
            "started_at": base,
            "finished_at": base + timedelta(seconds=41),
            "status": "succeeded",
            "trigger": "scheduled",
            "files": 0,
            "events_loaded": 0,
            "duplicates": 0,
            "rejected": 0,
            "error": None,
        },
        {
            "run_id": 2,
            "started_at": base + timedelta(hours=1),
            "finished_at": base + timedelta(hours=1, seconds=5),
            "status": "failed",
            "trigger": "scheduled",
            "files": 0,
            "events_loaded": 0,
            "duplicates": 0,
            "rejected": 0,
            "error": "could not connect to the warehouse",
        },
        {
            "run_id": 3,
            "started_at": base + timedelta(hours=2),
            "finished_at": base + timedelta(hours=2, seconds=37),
            "status": "succeeded",
            "trigger": "scheduled",
            "files": 0,
            "events_loaded": 0,
            "duplicates": 2,
            "rejected": 0,
            "error": None,
        },
    ]
    by_key = Counter(e["source_key"] for e in data.events)
    for key, count in sorted(by_key.items()):
        y, mo, d, h = key.split("/")[1:5]
        run = rng.choice([1, 3])
        data.manifest.append(
            {
                "key": key,
                "etag": f'"{uuid.UUID(int=rng.getrandbits(128)).hex}"',
                "size": 900 * count,
                "object_hour": datetime(int(y), int(mo), int(d), int(h), tzinfo=UTC),
                "events": count,
                "rejected": 0,
                "loaded_at": data.runs[run - 1]["finished_at"],
                "run_id": run,
            }
        )
    reasons = [
        "invalid JSON",
        "invalid JSON",
        "event_id: not a UUID",
        "missing required field: client_id",
        "event_id: not a UUID",
        "invalid JSON",
    ]
    for i, reason in enumerate(reasons):
        m = data.manifest[(7 * i) % len(data.manifest)]
        m["rejected"] += 1
        data.rejects.append(
            {
                "key": m["key"],
                "line": 2 + i,
                "reason": reason,
                "raw_line": "{bad",
                "rejected_at": data.runs[m["run_id"] - 1]["started_at"] + timedelta(seconds=20),
                "run_id": m["run_id"],
            }
        )
    for run in data.runs:
        mine = [m for m in data.manifest if m["run_id"] == run["run_id"]]
        run["files"] = len(mine)
        run["events_loaded"] = sum(m["events"] for m in mine)
        run["rejected"] = sum(m["rejected"] for m in mine)
    _quality(data)
    _booked(rng, data)


def _booked(rng: random.Random, data: KnownData) -> None:
    """The shop's orders as the ETL syncs them, with their items: most tracked purchases booked (one
    refunded, one missing: a forged or test order), two orders no browser reported (ad blockers;
    one also holds a gift card, a product no event ever showed) and a cancelled one."""
    purchases = sorted((e for e in data.human_events() if e["event_name"] == "purchase"),
                       key=lambda e: e["event_timestamp"])

    def order(order_id, user_id, status, created, items, *, total=None):
        total = sum(q * price for _, q, price in items) if total is None else total
        data.booked_orders.append({"order_id": order_id, "user_id": user_id, "status": status,
                                   "currency": "USD", "total": total, "created_at": created,
                                   "updated_at": created + timedelta(seconds=2), "run_id": 3})
        data.booked_order_items.extend(
            {"order_id": order_id, "product_id": pid, "quantity": q, "unit_price": price}
            for pid, q, price in items)

    for i, e in enumerate(purchases):
        if i == 1:
            continue                                      # tracked but unbooked
        quantities: dict[str, list] = {}
        for item in e["order_items"]:
            line = quantities.setdefault(item["product_id"], [0, Decimal(str(item["price"]))])
            line[0] += item["quantity"]
        order(e["order_id"], e["user_id"] or "u-guest", "refunded" if i == 2 else "paid",
              e["event_timestamp"] - timedelta(seconds=2),
              [(pid, q, price) for pid, (q, price) in quantities.items()], total=e["order_revenue"])
    for day, status in ((FIRST_DAY, "paid"), (LAST_DAY, "paid"), (LAST_DAY, "cancelled")):
        created = datetime(day.year, day.month, day.day, 15, tzinfo=UTC)
        items = [(PRODUCTS[rng.randrange(len(PRODUCTS))][0], 1, Decimal("249.50"))]
        if day == LAST_DAY and status == "paid":
            items.append(("GIFT-050", 2, Decimal("50.00")))
        order(str(uuid.UUID(int=rng.getrandbits(128))), "u-adblock", status, created, items)


def _quality(data: KnownData) -> None:
    """What the data-quality check left: two open anomalies and a cleared one on the middle day,
    and the figures run 3 restated for the first day (late events), as the ETL records them."""
    middle = datetime(DAYS[1].year, DAYS[1].month, DAYS[1].day, tzinfo=UTC)
    flags = [(middle + timedelta(hours=14), "events", 12, 96.5, 40.1, 152.9, -5.7, True),
             (middle + timedelta(hours=14), "purchases", 0, 9, 1, 17, -4.5, True),
             (middle + timedelta(hours=9), "bot_share", 0.31, 0.04, 0, 0.24, 4.9, False)]
    for hour, metric, observed, expected, lower, upper, score, is_open in flags:
        data.anomalies.append({"hour": hour, "metric": metric, "observed": observed, "expected": expected,
                               "lower_bound": lower, "upper_bound": upper, "score": score, "open": is_open,
                               "first_flagged_run": 1, "last_run": 3,
                               "flagged_at": data.runs[0]["finished_at"],
                               "cleared_at": None if is_open else data.runs[2]["finished_at"]})
    for table, figure, before, after in (("agg_activity_daily", "events", 1180, 1187),
                                         ("agg_funnel_daily", "orders", 14, 15),
                                         ("agg_funnel_daily", "revenue", 10234.5, 11133.5)):
        data.restatements.append({"day": FIRST_DAY, "table_name": table, "figure": figure, "before": before,
                                  "after": after, "run_id": 3, "restated_at": data.runs[2]["finished_at"]})


def _copy(cur, table: str, rows: list[dict], columns: tuple[str, ...]) -> None:
    """COPY the rows' columns that the table has (an older schema, as test_migrate loads, lacks some)."""
    cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
                " AND NOT attisdropped", (table,))
    present = {name for (name,) in cur.fetchall()}
    columns = tuple(c for c in columns if c in present)
    buf = io.StringIO()
    for row in rows:
        vals = []
        for c in columns:
            v = row[c]
            if v is None:
                vals.append("\\N")
            elif isinstance(v, (list, dict)):
                vals.append(json.dumps(v).replace("\\", "\\\\"))
            elif isinstance(v, datetime):
                vals.append(v.isoformat())
            else:
                vals.append(str(v))
        buf.write("\t".join(vals) + "\n")
    buf.seek(0)
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buf)


def load(conn, data: KnownData) -> None:
    """Write the data into a migrated warehouse (empty tables), in one transaction."""
    with conn, conn.cursor() as cur:
        _copy(cur, "clickstream_events", data.events, EVENT_COLUMNS)
        _copy(cur, "sessions", data.sessions, tuple(data.sessions[0]))
        _copy(cur, "agg_funnel_daily", data.funnel_daily, tuple(data.funnel_daily[0]))
        _copy(cur, "agg_product_daily", data.product_daily, tuple(data.product_daily[0]))
        _copy(cur, "agg_activity_hourly", data.activity_hourly, tuple(data.activity_hourly[0]))
        _copy(cur, "agg_activity_daily", data.activity_daily, tuple(data.activity_daily[0]))
        cols = tuple(data.runs[0])
        for run in data.runs:  # run_id is an identity column: COPY cannot set it
            cur.execute(
                sql.SQL("INSERT INTO etl_runs ({}) OVERRIDING SYSTEM VALUE VALUES ({})").format(
                    sql.SQL(", ").join(map(sql.Identifier, cols)),
                    sql.SQL(", ").join(sql.Placeholder() * len(cols)),
                ),
                [run[c] for c in cols],
            )
        _copy(cur, "etl_file_manifest", data.manifest, tuple(data.manifest[0]))
        _copy(cur, "etl_rejects", data.rejects, tuple(data.rejects[0]))
        # Tables of later migrations: written where the warehouse has them (an older one, as the
        # migration tests build it, does not).
        for table, rows in (("activity_session_hours", data.activity_session_hours),
                            ("booked_orders", data.booked_orders),
                            ("booked_order_items", data.booked_order_items),
                            ("clients", data.clients),
                            ("dq_anomalies", data.anomalies), ("agg_restatements", data.restatements)):
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
            if rows and cur.fetchone()[0]:
                _copy(cur, table, rows, tuple(rows[0]))
        # The aggregates the ETL recomputes rather than changes by a delta (migration 060): by the
        # warehouse's own refresh functions, from the sessions and clients above, so the queries
        # over them are checked against the oracle with the ETL's definitions of their rows.
        cur.execute("SELECT to_regprocedure('refresh_daily_aggregates(date[])') IS NOT NULL")
        if cur.fetchone()[0]:
            cur.execute("SELECT refresh_daily_aggregates(ARRAY(SELECT DISTINCT"
                        " (started_at AT TIME ZONE 'UTC')::date FROM sessions))")
            cur.execute("SELECT refresh_purchase_attribution(NULL)")
            cur.execute("SELECT refresh_client_retention(NULL)")

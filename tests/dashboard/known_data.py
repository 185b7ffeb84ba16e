"""A small, fixed warehouse the dashboard tests read, built from raw events through the real ETL.

`build()` makes the same raw events every time (a seeded generator, on the shared event factory
tests/support/events: seeded_event with what ingest adds): three UTC days of shoppers walking
page_view -> product_view -> add_to_cart -> begin_checkout -> purchase with drop-off, from
several channels (landing URLs and referrers), devices (user agents) and countries (addresses),
one bot session (which every dashboard must ignore), a few lines no event can be read from, an
event sent twice and a late session of the first day. `load()` writes them to a raw bucket as
ingest does and runs the ETL on them three times (the second run fails: its bucket is missing)
into a real PostgreSQL, then adds what is not derived from events: the shop's orders (the ETL
copies them from the shop), anomalies (three days are too few for a baseline) and the runs'
clock (the days are fixed; a run's clock is the machine's). `view()` is what the tests compare
the warehouse with: the one plain-Python oracle's sessions (tests/support/acquisition.py) over
those same raw events, and the events as the oracle reads them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import random
import secrets
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import boto3
import psycopg2
from psycopg2 import sql
from psycopg2.extensions import parse_dsn

from functions.enrichment import geo
from functions.etl import enrich
from functions.etl.config import Settings
from functions.etl.runner import run
from functions.raw_layout import object_key
from tests.support import acquisition
from tests.support.events import ingested, seeded_event
from tests.support.moto import REGION

DAYS = (date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4))
FIRST_DAY, LAST_DAY = DAYS[0], DAYS[-1]
SHOP = "https://shop.example"

PRODUCTS = (
    # id, name, category, brand, price
    ("LAP-001", "Lenovo ThinkPad X1 Carbon", "Laptops", "Lenovo", 1549.00),
    ("LAP-003", "Dell XPS 13", "Laptops", "Dell", 899.00),
    ("MON-001", "Dell UltraSharp 27 4K", "Monitors", "Dell", 459.99),
    ("GPU-001", "NVIDIA GeForce RTX 4070", "GPUs", "NVIDIA", 599.00),
    ("KEY-001", "Logitech MX Keys", "Keyboards", "Logitech", 99.99),
)
FUNNEL_STEPS = acquisition.FUNNEL_STEPS

#: How a visit arrived (the query of its landing URL, its referrer): the ETL derives the channel,
#: source and medium from these (tests/etl covers the derivation, the oracle recomputes it).
LANDINGS = (
    ("", None),                                                                  # Direct
    ("", "https://www.google.com/"),                                             # Organic Search
    ("?utm_source=google&utm_medium=cpc&utm_campaign=spring-sale", "https://www.google.com/"),
    ("?utm_source=newsletter&utm_medium=email&utm_campaign=march-deals", None),  # Email
    ("", "https://techblog.example/best-laptops"),                               # Referral
    ("", "https://www.reddit.com/r/buildapc/"),                                  # Organic Social
)
#: Each client's browser and address (the country database below places the addresses).
DEVICES = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", "203.0.113.10"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Mobile/15E148 Safari/604.1", "198.51.100.20"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Mobile Safari/537.36", "192.0.2.30"),
    ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/16.6 Mobile/15E148 Safari/604.1", "100.64.0.40"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Mobile/15E148 Safari/604.1", "203.0.113.50"),
)
COUNTRIES = {"203.0.113.0/24": "DE", "198.51.100.0/24": "US", "192.0.2.0/24": "GB"}  # 100.64/10: none
BOT_AGENT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

#: Lines no event can be read from, with the reason the ETL gives (tests/etl/test_bad_input.py).
BAD_LINES = (
    (b"{bad", "not valid JSON: Expecting property name enclosed in double quotes at column 2"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[1]", "not a JSON object but a JSON list"),
    (b"{bad", "not valid JSON: Expecting property name enclosed in double quotes at column 2"),
)
#: The ETL's runs: (window end, how long it took by the known clock); the second one fails.
RUNS = ((datetime(2026, 3, 4, tzinfo=UTC), 41), (datetime(2026, 3, 5, tzinfo=UTC), 5),
        (datetime(2026, 3, 5, tzinfo=UTC), 37))
RUN_CLOCK = datetime(2026, 3, 4, 21, tzinfo=UTC)   # the first run's start; one an hour
WINDOW_START = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass
class KnownData:
    """The raw objects (the run that loads each, its receive hour, its lines), the events of their
    lines (``records``, a line sent twice twice) and what the tests compare with."""
    objects: list[dict] = field(default_factory=list)           # {run, hour, lines: [bytes]}
    records: list[dict] = field(default_factory=list)
    booked_orders: list[dict] = field(default_factory=list)
    booked_order_items: list[dict] = field(default_factory=list)
    anomalies: list[dict] = field(default_factory=list)
    # what the runs did, from the objects written (not read back): {run_id, started_at, finished_at,
    # status, files, events_loaded, rejected}; the objects and the lines they rejected
    runs: list[dict] = field(default_factory=list)
    manifest: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    # the oracle's view (view())
    sessions: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    clients: list[dict] = field(default_factory=list)
    oracle: dict[str, acquisition.Session] = field(default_factory=dict)   # the sessions, as built

    def human_events(self) -> list[dict]:
        bots = {s["session_id"] for s in self.sessions if s["is_bot"]}
        return [e for e in self.events if e["session_id"] not in bots]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _raw_event(rng: random.Random, at: datetime, name: str, visit: dict, path: str, *,
               query: str = "", referrer: str | None = None, context: dict | None = None,
               first: bool = False) -> dict:
    """A raw line's record: the client's event (the shared factory) and what ingest adds."""
    page = {"url": f"{SHOP}{path}{query}", "path": path, "title": path.strip("/") or "Home"}
    if referrer:
        page["referrer"] = referrer
    event = seeded_event(rng, name, event_timestamp=_iso(at), user_id=visit["user"],
                         client_id=visit["client"], session_id=visit["session"], is_first_visit=first,
                         page=page, context=context or None)
    return ingested(event, rng, received_at=_iso(at + timedelta(seconds=2)), source_ip=visit["address"],
                    user_agent=visit["agent"], is_bot=visit["bot"])


def _product(product: tuple) -> dict:
    pid, pname, cat, brand, price = product
    return {"product": {"id": pid, "name": pname, "category": cat, "brand": brand, "price": price,
                        "discount_price": price, "url_path": f"/products/{pid.lower()}"}}


def _visit(rng: random.Random, start: datetime, visit: dict, landing: tuple[str, str | None]) -> list[dict]:
    """One shopper's visit: landing page, some browsing, and the funnel with drop-off."""
    t = start
    out: list[dict] = []

    def step(name, path, context=None, gap=(20, 90)):
        nonlocal t
        query, referrer = landing if not out else ("", SHOP + out[-1]["page"]["path"])
        out.append(_raw_event(rng, t, name, visit, path, query=query, referrer=referrer, context=context,
                              first=visit["first"] and not out))
        t += timedelta(seconds=rng.randint(*gap))

    step("page_view", rng.choice(["/", "/", "/category/laptops", "/category/monitors", "/search"]))
    if rng.random() < 0.25 and not visit["bot"]:
        return out  # bounce
    if rng.random() < 0.3:
        step("page_view", rng.choice(["/category/gpus", "/deals", "/"]))
    product = rng.choice(PRODUCTS)
    step("product_view", f"/products/{product[0].lower()}", _product(product))
    if rng.random() < 0.4:
        other = rng.choice(PRODUCTS)
        step("product_view", f"/products/{other[0].lower()}", _product(other))
    if rng.random() < 0.4:
        return out
    step("add_to_cart", f"/products/{product[0].lower()}", _product(product))
    if rng.random() < 0.35:
        return out
    step("begin_checkout", "/checkout")
    if rng.random() < 0.3:
        return out
    qty = rng.choice([1, 1, 2])
    order = {"order_id": f"ORD-{visit['session'][-6:]}", "revenue": round(qty * product[4], 2),
             "currency": "USD", "items": [{"product_id": product[0], "quantity": qty, "price": product[4]}]}
    step("purchase", "/checkout/complete", {"order": order})
    return out


def _received(record: dict) -> datetime:
    return datetime.fromisoformat(record["received_at"].replace("Z", "+00:00"))


def build(seed: int = 20260303) -> KnownData:
    rng = random.Random(seed)
    data = KnownData()
    events: list[dict] = []
    clients = [{"client": f"client-{i:03d}", "agent": DEVICES[i % len(DEVICES)][0],
                "address": DEVICES[i % len(DEVICES)][1]} for i in range(18)]
    seen: set[str] = set()
    n = 0
    for day_index, day in enumerate(DAYS):
        for _ in range(10 + 4 * day_index):
            n += 1
            client = rng.choice(clients)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
                hours=rng.choice([9, 10, 10, 11, 14, 15, 20, 23]), minutes=rng.randint(0, 58),
                seconds=rng.randint(0, 59))
            visit = {**client, "session": f"sess-{n:04d}", "bot": False,
                     "first": client["client"] not in seen,
                     "user": f"user-{client['client'][-3:]}" if rng.random() < 0.4 else None}
            events += _visit(rng, start, visit, rng.choice(LANDINGS))
            seen.add(visit["client"])
    # A crawler: many page views in one session, excluded from every figure.
    crawler = {"client": "client-bot", "session": "sess-bot", "user": None, "agent": BOT_AGENT,
               "address": "198.51.100.99", "bot": True, "first": False}
    bot_start = datetime(DAYS[1].year, DAYS[1].month, DAYS[1].day, 10, 5, tzinfo=UTC)
    events += [_raw_event(rng, bot_start + timedelta(seconds=3 * i), "page_view", crawler, f"/products/p{i}")
               for i in range(12)]
    # Raw objects as ingest writes them: by receive hour, those before the last day for the first
    # run, the rest for the last (the second fails before it reads any).
    by_hour: dict[datetime, list[bytes]] = defaultdict(list)
    for r in sorted(events, key=lambda r: (r["received_at"], r["event_id"])):
        by_hour[_received(r).replace(minute=0, second=0, microsecond=0)].append(json.dumps(r).encode())
    for hour, lines in sorted(by_hour.items()):
        data.objects.append({"run": 1 if hour.date() < LAST_DAY else 3, "hour": hour, "lines": lines})
    # The last run also gets an event the first one loaded, sent again (counted once), lines it
    # rejects, and a late visit of the first day (the ETL restates that day's figures).
    late_start = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, 16, 20, tzinfo=UTC)
    late_visit = {**clients[0], "session": "sess-late", "bot": False, "first": False, "user": None}
    late = _visit(random.Random(seed + 1), late_start, late_visit, LANDINGS[0])
    received = datetime(LAST_DAY.year, LAST_DAY.month, LAST_DAY.day, 12, 1, tzinfo=UTC)
    for r in late:
        r["received_at"] = _iso(received)
    again = data.objects[0]["lines"][0]
    data.objects.append({"run": 3, "hour": received.replace(minute=0),
                         "lines": [*(json.dumps(r).encode() for r in late), again,
                                   *(line for line, _ in BAD_LINES)]})
    data.records = acquisition.raw_records(line for o in data.objects for line in o["lines"])
    _booked(rng, data)
    _anomalies(data)
    return data


def _booked(rng: random.Random, data: KnownData) -> None:
    """The shop's orders as the ETL syncs them, with their items: most tracked purchases booked (one
    refunded, one missing: a forged or test order), two orders no browser reported (ad blockers;
    one also holds a gift card, a product no event ever showed) and a cancelled one."""
    purchases = sorted((r for r in acquisition.unique_events(data.records).values()
                        if r["event_name"] == "purchase" and not r["is_bot"]),
                       key=lambda r: (r["event_timestamp"], r["event_id"]))

    def order(order_id, user_id, status, created, items, *, total=None):
        total = sum(q * price for _, q, price in items) if total is None else total
        data.booked_orders.append({"order_id": order_id, "user_id": user_id, "status": status,
                                   "currency": "USD", "total": total, "created_at": created,
                                   "updated_at": created + timedelta(seconds=2), "run_id": 3})
        data.booked_order_items.extend(
            {"order_id": order_id, "product_id": pid, "quantity": q, "unit_price": price}
            for pid, q, price in items)

    for i, r in enumerate(purchases):
        if i == 1:
            continue                                      # tracked but unbooked
        placed = r["context"]["order"]
        quantities: dict[str, list] = {}
        for item in placed["items"]:
            line = quantities.setdefault(item["product_id"], [0, Decimal(str(item["price"]))])
            line[0] += item["quantity"]
        order(placed["order_id"], r["user_id"] or "u-guest", "refunded" if i == 2 else "paid",
              acquisition.event_time(r) - timedelta(seconds=2),
              [(pid, q, price) for pid, (q, price) in quantities.items()],
              total=Decimal(str(placed["revenue"])))
    for day, status in ((FIRST_DAY, "paid"), (LAST_DAY, "paid"), (LAST_DAY, "cancelled")):
        created = datetime(day.year, day.month, day.day, 15, tzinfo=UTC)
        items = [(PRODUCTS[rng.randrange(len(PRODUCTS))][0], 1, Decimal("249.50"))]
        if day == LAST_DAY and status == "paid":
            items.append(("GIFT-050", 2, Decimal("50.00")))
        order(str(uuid.UUID(int=rng.getrandbits(128))), "u-adblock", status, created, items)


def _anomalies(data: KnownData) -> None:
    """What the data-quality check would have left with weeks of history (three days are too few
    for a baseline): two open anomalies and a cleared one on the middle day."""
    middle = datetime(DAYS[1].year, DAYS[1].month, DAYS[1].day, tzinfo=UTC)
    flags = [(middle + timedelta(hours=14), "events", 12, 96.5, 40.1, 152.9, -5.7, True),
             (middle + timedelta(hours=14), "purchases", 0, 9, 1, 17, -4.5, True),
             (middle + timedelta(hours=9), "bot_share", 0.31, 0.04, 0, 0.24, 4.9, False)]
    for hour, metric, observed, expected, lower, upper, score, is_open in flags:
        data.anomalies.append({"hour": hour, "metric": metric, "observed": observed, "expected": expected,
                               "lower_bound": lower, "upper_bound": upper, "score": score, "open": is_open,
                               "first_flagged_run": 1, "last_run": 3,
                               "flagged_at": RUN_CLOCK + timedelta(seconds=RUNS[0][1]),
                               "cleared_at": None if is_open else RUN_CLOCK + timedelta(hours=2, seconds=37)})


# ---------------------------------------------------------------- through the ETL

def _insert(cur, table: str, rows: list[dict]) -> None:
    cols = tuple(rows[0])
    for row in rows:
        cur.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, cols)),
            sql.SQL(", ").join(sql.Placeholder() * len(cols))), [row[c] for c in cols])


@contextlib.contextmanager
def _writer(conn) -> Iterator[tuple[str, str]]:
    """A login in clickstream_writer, as the ETL has in production."""
    user, password = f"etl_writer_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s IN ROLE clickstream_writer").format(
            sql.Identifier(user)), (password,))
    try:
        yield user, password
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (user,))
            cur.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(user)))
            cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(user)))


def country_database(directory: Path) -> Path:
    from tests.enrichment.test_geo import build_database, country  # noqa: PLC0415 - the geo tests' builder

    return build_database(directory / "country.mmdb",
                          {net: {"country": country(code)} for net, code in COUNTRIES.items()})


def load(dsn: str, data: KnownData, moto_endpoint: str) -> None:
    """Run the ETL on the raw objects of a migrated, empty warehouse (superuser `dsn`), then add
    the shop's orders, the anomalies and the runs' known clock; fills data's runs, manifest and
    rejects with what the objects written imply."""
    params = parse_dsn(dsn)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint)
    bucket = f"raw-{secrets.token_hex(6)}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    with contextlib.closing(psycopg2.connect(dsn)) as conn, tempfile.TemporaryDirectory() as tmp:
        conn.autocommit = True
        with _writer(conn) as (user, password):
            env = {"DWH_HOST": params["host"], "DWH_PORT": params["port"], "DWH_USER": user,
                   "DWH_PASSWORD": password, "DWH_DATABASE": params["dbname"], "RAW_BUCKET": bucket,
                   "AWS_REGION": REGION, "AWS_ENDPOINT_URL": moto_endpoint, "ETL_MAX_WORKERS": "2",
                   "GEOIP_COUNTRY_DB": str(country_database(Path(tmp)))}
            saved = {name: os.environ.get(name) for name in env}
            os.environ.update(env)   # the ETL's environment, as the Lambda gets it
            geo.forget_lookups()
            try:
                _runs(Settings.from_env(env), s3, bucket, data)
            finally:
                geo.forget_lookups()
                enrich.configure_geography(None)
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
        _known_clock(conn, data)
        with conn.cursor() as cur:
            _insert(cur, "booked_orders", data.booked_orders)
            _insert(cur, "booked_order_items", data.booked_order_items)
            _insert(cur, "dq_anomalies", data.anomalies)
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": m["key"]} for m in data.manifest]})
    s3.delete_bucket(Bucket=bucket)


def _runs(settings: Settings, s3, bucket: str, data: KnownData) -> None:
    seen: set[str] = set()
    for run_id, (until, seconds) in enumerate(RUNS, start=1):
        mine = [o for o in data.objects if o["run"] == run_id]
        loaded = rejected = 0
        for o in mine:
            key = object_key(o["hour"])
            s3.put_object(Bucket=bucket, Key=key, Body=b"\n".join(o["lines"]) + b"\n")
            events = bad = 0
            for line in o["lines"]:
                reason = next((why for raw, why in BAD_LINES if raw == line), None)
                if reason is None:
                    event_id = json.loads(line)["event_id"].lower()
                    events += 1
                    loaded += event_id not in seen
                    seen.add(event_id)
                else:
                    bad += 1
                    data.rejects.append({"key": key, "reason": reason, "run_id": run_id})
            rejected += bad
            data.manifest.append({"key": key, "object_hour": o["hour"], "events": events, "rejected": bad,
                                  "run_id": run_id})
        started = RUN_CLOCK + timedelta(hours=run_id - 1)
        failed = run_id == 2
        data.runs.append({"run_id": run_id, "started_at": started,
                          "finished_at": started + timedelta(seconds=seconds),
                          "status": "failed" if failed else "succeeded", "files": len(mine),
                          "events_loaded": loaded, "rejected": rejected})
        # the second run's bucket is missing: its run row says failed, with the reason
        summary = _run(dataclasses.replace(settings, raw_bucket=bucket + "-missing") if failed else settings,
                       until, s3)
        assert summary["status"] == ("failed" if failed else "succeeded"), summary
        assert summary.get("run_id", run_id) == run_id, summary


def _run(settings: Settings, until: datetime, s3) -> dict:
    """One scheduled run's summary ({"status": "failed"} when it raised). A run that finds the run
    lock taken (the previous run's server process not gone yet, on a busy machine) is tried again."""
    for _ in range(100):
        try:
            summary = run(settings, WINDOW_START, until, trigger="scheduled", s3=s3, now=until)
        except Exception as exc:   # the failing run: its error is what it leaves in etl_runs
            return {"status": "failed", "error": str(exc)}
        if summary["status"] != "skipped":
            return summary
        time.sleep(0.1)
    raise AssertionError("the run lock stayed taken")


def _known_clock(conn, data: KnownData) -> None:
    """The runs at their known times (an hour apart on the last day), and what each stamped with
    the machine's clock moved by as much as its start."""
    with conn.cursor() as cur:
        for r in data.runs:
            cur.execute("SELECT %s - started_at FROM etl_runs WHERE run_id = %s",
                        (r["started_at"], r["run_id"]))
            [(shift,)] = cur.fetchall()
            cur.execute("UPDATE etl_runs SET started_at = %s, finished_at = %s WHERE run_id = %s",
                        (r["started_at"], r["finished_at"], r["run_id"]))
            for table, column in (("etl_file_manifest", "loaded_at"), ("etl_rejects", "rejected_at"),
                                  ("agg_restatements", "restated_at")):
                cur.execute(sql.SQL("UPDATE {} SET {} = {} + %s WHERE run_id = %s").format(
                    sql.Identifier(table), sql.Identifier(column), sql.Identifier(column)),
                    (shift, r["run_id"]))
        cur.execute("SELECT status, error FROM etl_runs ORDER BY run_id")
        assert [s for s, _ in cur.fetchall()] == [r["status"] for r in data.runs]


# ---------------------------------------------------------------- the oracle's view

def _event_row(r: dict) -> dict:
    """A raw event as the tests read it (its time parsed, its product and order taken out)."""
    product = (r.get("context") or {}).get("product") or {}
    order = (r.get("context") or {}).get("order") or {}
    return {"event_id": r["event_id"].lower(), "event_timestamp": acquisition.event_time(r),
            "event_name": r["event_name"], "session_id": r["session_id"], "client_id": r["client_id"],
            "user_id": r.get("user_id"), "page_path": (r.get("page") or {}).get("path"),
            "context_product_id": product.get("id"), "context_product_category": product.get("category"),
            "context_product_brand": product.get("brand"), "order_id": order.get("order_id"),
            "order_items": order.get("items"), "is_bot": r.get("is_bot") is True}


def view(conn, data: KnownData) -> KnownData:
    """The oracle over the raw events: every session (acquisition.build_sessions, with the
    warehouse's source categories, which are data, and the country database's countries), each
    client's first session, the events (each event_id once)."""
    with conn.cursor() as cur:
        cur.execute("SELECT source, category FROM channel_source_categories")
        categories = dict(cur.fetchall())
    with tempfile.TemporaryDirectory() as tmp:
        lookup = geo.CountryLookup(country_database(Path(tmp)))
        sessions = acquisition.build_sessions(data.records, categories, country_of=lookup.country)
    data.oracle = sessions
    data.sessions = [{**asdict(s), "funnel": s.funnel}
                     for s in sorted(sessions.values(), key=lambda s: (s.started_at, s.session_id))]
    data.clients = [{"client_id": c, "first_session_id": sid, "first_started_at": at}
                    for c, (at, sid) in sorted(acquisition.first_sessions(sessions).items())]
    data.events = sorted((_event_row(r) for r in acquisition.unique_events(data.records).values()),
                         key=lambda e: (e["event_timestamp"], e["event_id"]))
    return data


# ---------------------------------------------------------------- a copy for an older schema

#: The tables the ETL filled, in an order their foreign keys accept.
TABLES = ("etl_runs", "etl_file_manifest", "etl_rejects", "clickstream_events", "sessions",
          "agg_funnel_daily", "agg_product_daily", "agg_activity_hourly", "agg_activity_daily",
          "activity_session_hours", "clients", "booked_orders", "booked_order_items", "dq_anomalies",
          "agg_restatements")


def copy_tables(source, target) -> None:
    """The known warehouse's rows into another one's tables (an older schema, as the migration
    tests build it): the columns both have, of the tables the target has; one transaction."""
    with source.cursor() as src, target, target.cursor() as dst:
        for table in TABLES:
            dst.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
            if not dst.fetchone()[0]:
                continue
            columns = []
            for cur in (src, dst):
                cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
                            " AND NOT attisdropped ORDER BY attnum", (table,))
                columns.append([name for (name,) in cur.fetchall()])
            common = sql.SQL(", ").join(map(sql.Identifier, [c for c in columns[0] if c in columns[1]]))
            if table == "etl_runs":   # run_id is an identity column: COPY cannot set it
                src.execute(sql.SQL("SELECT {} FROM etl_runs").format(common))
                rows = src.fetchall()
                for row in rows:
                    dst.execute(sql.SQL("INSERT INTO etl_runs ({}) OVERRIDING SYSTEM VALUE VALUES ({})")
                                .format(common, sql.SQL(", ").join(sql.Placeholder() * len(row))), row)
                continue
            buf = io.StringIO()
            src.copy_expert(sql.SQL("COPY {} ({}) TO STDOUT").format(sql.Identifier(table), common)
                            .as_string(src), buf)
            buf.seek(0)
            dst.copy_expert(sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), common)
                            .as_string(dst), buf)
    source.rollback()


@contextlib.contextmanager
def known_warehouse(cluster, moto_endpoint: str) -> Iterator[tuple[str, KnownData]]:
    """A migrated database on the cluster holding the known data (DSN, the data and its view);
    dropped on exit."""
    from functions.warehouse.migrate import apply_migrations  # noqa: PLC0415

    dsn = cluster.create_database()
    try:
        with contextlib.closing(psycopg2.connect(dsn)) as conn:
            apply_migrations(conn)
        data = build()
        load(dsn, data, moto_endpoint)
        with contextlib.closing(psycopg2.connect(dsn)) as conn:
            view(conn, data)
        yield dsn, data
    finally:
        cluster.drop_database(parse_dsn(dsn)["dbname"])

"""Simulated shoppers for the local platform: real HTTP batches, as the shop's browser tracker sends them.

Shoppers browse the OLTP seed catalog with a realistic drop-off from page view to purchase:
landing page, category pages and searches, product pages, carts, checkouts, orders. Some come
back for more sessions (returning visitors), some sign in (guest -> logged_in), a few are bots
(crawler user agents, many pages, no carts). Everything is drawn from one seeded random
generator, so the same --seed, --shoppers, --days and window end give the same events and the
same event ids (a re-sent run is deduplicated downstream).

The generator writes its own record of what it sent (events by name, sessions, funnel by
sessions, activity by hour, bots kept apart) for the demo's summary and the end-to-end test to
compare the warehouse and the dashboards against.

    python -m localplatform.traffic --url http://127.0.0.1:18080/clickstream \
        --shoppers 200 --days 3 --seed 7 --record .demo/traffic.json
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import random
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CATALOG = REPO / "roles" / "oltp" / "files" / "catalog.csv"
CATALOG_COLUMNS = ("product_id", "name", "category", "brand", "price", "discount_price", "url_path", "stock")

#: The shop funnel, in order. A session "reaches" a step when it has at least one event of it.
FUNNEL_STEPS = ("page_view", "product_view", "add_to_cart", "begin_checkout", "purchase")

#: The tracker flushes at most this many events per request (the contract allows 500).
MAX_BATCH = 25
SITE = "https://shop.example"
CURRENCY = "USD"

BROWSER_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
)

#: Crawlers as they announce themselves; ingest flags these user agents as bots.
BOT_USER_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
)

SEARCH_TERMS = ("laptop", "gaming laptop", "4k monitor", "rtx", "ssd 1tb", "mechanical keyboard",
                "wireless mouse", "ryzen", "router", "webcam", "ddr5", "usb-c hub", "headset", "nvme")
REFERRERS = ("", "", "https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/",
             "https://news.example/deals", "https://social.example/")

# Drop-off between the funnel steps, per session (roughly what small web shops see).
P_VIEW_PRODUCT = 0.72          # a landing session goes on to look at a product
P_ADD_TO_CART = 0.34           # ... puts something in the cart
P_BEGIN_CHECKOUT = 0.58        # ... starts the checkout
P_PURCHASE = 0.62              # ... completes the order
P_RETURNING = 0.35             # a shopper comes back for more sessions
P_MEMBER = 0.45                # a shopper has an account (signs in at some point)
P_EPOCH_TRACKER = 0.15         # an older tracker build sends epoch milliseconds, not RFC 3339
P_BEACON = 0.6                 # the last flush of a page is a sendBeacon (text/plain)
P_GZIP = 0.2                   # the tracker compresses a flush
P_BROKEN_EVENT = 0.01          # an event from a buggy page script: the contract rejects it
P_AD_BLOCKER = 0.08            # a shopper's ad blocker drops every tracking request: orders, no events
OUTAGE_KEPT = 0.1              # in the outage hour, one browser in ten still gets its events through
LATE_SHARE = 0.03              # the late batch: this share of the late day's shopper sessions (>= LATE_MIN)
LATE_MIN = 3
LATE_DAY_MIN_HOURS = 12        # the late day: the window covers at least this much of it
FORGED_PER_SHOPPERS = 100      # one forged purchase (a purchase event, no order) per this many shoppers, >= 1
#: What becomes of the shop's orders (the rest are paid); booked = paid, shipped or delivered.
ORDER_STATUSES = (("shipped", 0.05), ("delivered", 0.03), ("refunded", 0.04), ("cancelled", 0.03))
BOOKED_STATUSES = ("paid", "shipped", "delivered")


class TrafficError(Exception):
    """A problem with the generator's input (catalog, options) or the endpoint."""


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    category: str
    brand: str
    price: float
    discount_price: float
    url_path: str

    def context(self) -> dict:
        return {"id": self.product_id, "name": self.name, "category": self.category, "brand": self.brand,
                "price": self.price, "discount_price": self.discount_price, "url_path": self.url_path}


def load_catalog(path: Path = DEFAULT_CATALOG) -> list[Product]:
    """The shop's products from the OLTP seed catalog; a clear error names what is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TrafficError(f"catalog {path}: {exc.strerror or exc}") from exc
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in CATALOG_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise TrafficError(f"catalog {path}: header lacks column(s) {', '.join(missing)}")
    products = []
    for line, row in enumerate(reader, start=2):
        try:
            price = float(row["price"])
            discount = float(row["discount_price"] or row["price"])
        except ValueError as exc:
            raise TrafficError(f"catalog {path} line {line}: price/discount_price not a number") from exc
        if not row["product_id"] or price < 0 or discount < 0:
            raise TrafficError(f"catalog {path} line {line}: empty product_id or negative price")
        products.append(Product(row["product_id"], row["name"], row["category"], row["brand"],
                                price, discount, row["url_path"]))
    if not products:
        raise TrafficError(f"catalog {path}: no products")
    return products


@dataclass
class Session:
    session_id: str
    client_id: str
    user_agent: str
    is_bot: bool
    events: list[dict] = field(default_factory=list)
    broken: list[dict] = field(default_factory=list)   # events the contract rejects, sent alongside
    blocked: bool = False                               # an ad blocker drops all of it: never sent
    forged: bool = False                                # a purchase event with no shop order behind it
    late: bool = False                                  # held back: the late batch, sent after an ETL run

    @property
    def start(self) -> datetime:
        return _parse_ts(self.events[0]["event_timestamp"])

    @property
    def names(self) -> set[str]:
        return {e["event_name"] for e in self.events}


@dataclass(frozen=True)
class Batch:
    """One HTTP request of the tracker."""

    user_agent: str
    events: list[dict]
    encoding: str          # "json", "beacon" (text/plain), or "gzip" (application/json, gzip-encoded)

    def request(self, url: str) -> urllib.request.Request:
        body = json.dumps({"events": self.events}, separators=(",", ":")).encode()
        headers = {"User-Agent": self.user_agent, "Content-Type": "application/json"}
        if self.encoding == "beacon":
            headers["Content-Type"] = "text/plain;charset=UTF-8"
        elif self.encoding == "gzip":
            body = gzip.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
        return urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (checked in send)


@dataclass
class Simulation:
    seed: int
    shoppers: int
    days: float
    window_start: datetime
    window_end: datetime
    sessions: list[Session]           # what the trackers sent (bots and forged purchases included)
    batches: list[Batch]
    blocked: list[Session] = field(default_factory=list)  # ad-blocked shoppers' sessions: never sent
    orders: list[dict] = field(default_factory=list)      # the shop's orders, as its checkout wrote them
    late_batches: list[Batch] = field(default_factory=list)  # requests of the sessions marked late
    outage: dict | None = None        # the injected outage: its hour and what it lost (see simulate)
    late_day: date | None = None      # the day the late batch belongs to

    @property
    def late(self) -> list[Session]:
        return [s for s in self.sessions if s.late]


def iso_utc(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _parse_ts(value: str | int) -> datetime:
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def parse_ts(value: str | int) -> datetime:
    """An event_timestamp (RFC 3339 with any offset, or epoch milliseconds) as a UTC datetime."""
    return _parse_ts(value).astimezone(UTC)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _hour_weight(hour: int) -> float:
    """Diurnal shape of shop traffic (UTC taken as the shop's local time): low at night, evening peak."""
    return 0.25 + math.exp(-((hour - 20) ** 2) / 18) + 0.6 * math.exp(-((hour - 12) ** 2) / 8)


class _Shopper:
    """One browser (client_id) with a stable user agent, maybe an account, maybe several visits."""

    def __init__(self, rng: random.Random, catalog: Sequence[Product], is_bot: bool):
        self.rng = rng
        self.catalog = catalog
        self.is_bot = is_bot
        self.client_id = _uuid(rng)
        self.user_agent = rng.choice(BOT_USER_AGENTS if is_bot else BROWSER_USER_AGENTS)
        self.member_id = _uuid(rng) if not is_bot and rng.random() < P_MEMBER else None
        self.remembered_login = False   # signed in on an earlier visit: the shop keeps the cookie
        self.epoch_clock = rng.random() < P_EPOCH_TRACKER
        self.visits = 0

    def session(self, start: datetime) -> Session:
        rng = self.rng
        session = Session(_uuid(rng), self.client_id, self.user_agent, self.is_bot)
        clock = [start]
        logged_in = [self.remembered_login]
        first_visit = self.visits == 0
        self.visits += 1

        def emit(name: str, path: str, title: str, *, product: Product | None = None,
                 order: dict | None = None, extra: dict | None = None, referrer: str = "") -> None:
            event = {
                "event_id": _uuid(rng),
                "event_timestamp": (int(clock[0].timestamp() * 1000) if self.epoch_clock
                                    else iso_utc(clock[0])),
                "event_name": name,
                "user_id": self.member_id if logged_in[0] else None,
                "user_login_state": "logged_in" if logged_in[0] else "guest",
                "identity_source": "cognito" if logged_in[0] else "anonymous",
                "client_id": self.client_id,
                "session_id": session.session_id,
                "is_first_visit": first_visit and not session.events,
                "page": {"url": SITE + path, "path": path, "title": title, "referrer": referrer},
            }
            if product or order:
                event["context"] = {}
                if product:
                    event["context"]["product"] = product.context()
                if order:
                    event["context"]["order"] = order
            if extra:
                event["properties"] = extra
            session.events.append(event)
            if not self.is_bot and rng.random() < P_BROKEN_EVENT:
                # A buggy page script: a name the contract refuses; ingest must reject it.
                broken = dict(event, event_id=_uuid(rng), event_name="Promo-Banner Click")
                session.broken.append(broken)
            # Humans read a page for a few seconds to minutes; crawlers fetch every second or two.
            clock[0] += timedelta(seconds=rng.uniform(1, 3) if self.is_bot else rng.expovariate(1 / 40) + 3)

        if self.is_bot:
            self._crawl(emit)
        else:
            self._shop(emit, logged_in)
        return session

    def _crawl(self, emit) -> None:
        rng = self.rng
        emit("page_view", "/", "Home")
        for product in rng.sample(self.catalog, k=min(len(self.catalog), rng.randint(8, 20))):
            emit("page_view", product.url_path, product.name)
            emit("product_view", product.url_path, product.name, product=product)

    def _shop(self, emit, logged_in: list[bool]) -> None:
        rng = self.rng
        viewed: list[Product] = []
        referrer = rng.choice(REFERRERS)
        landing = rng.random()
        interest = rng.choice(self.catalog).category
        if landing < 0.45:
            emit("page_view", "/", "Home", referrer=referrer)
        elif landing < 0.8:
            emit("page_view", category_path(interest), interest, referrer=referrer)
        else:  # straight onto a product page from a search engine
            first = rng.choice([p for p in self.catalog if p.category == interest])
            emit("page_view", first.url_path, first.name, referrer=referrer)
            emit("product_view", first.url_path, first.name, product=first)
            viewed.append(first)
        if self.member_id and not logged_in[0] and rng.random() < 0.3:
            emit("login", "/login", "Sign in")
            logged_in[0] = self.remembered_login = True

        if rng.random() < P_VIEW_PRODUCT:
            if rng.random() < 0.3:
                term = rng.choice(SEARCH_TERMS)
                emit("search", f"/search?q={term.replace(' ', '+')}", f"Search: {term}",
                     extra={"query": term})
            pool = [p for p in self.catalog if p.category == interest] or list(self.catalog)
            for _ in range(min(6, 1 + int(rng.expovariate(1 / 1.6)))):
                product = rng.choice(pool if rng.random() < 0.75 else self.catalog)
                emit("page_view", product.url_path, product.name)
                emit("product_view", product.url_path, product.name, product=product)
                viewed.append(product)
        if viewed and rng.random() < P_ADD_TO_CART:
            self._cart_and_checkout(emit, logged_in, viewed)

    def _cart_and_checkout(self, emit, logged_in: list[bool], viewed: list[Product]) -> None:
        rng = self.rng
        cart: dict[str, tuple[Product, int]] = {}
        for product in rng.sample(viewed, k=min(len(viewed), rng.choice((1, 1, 1, 2, 2, 3)))):
            quantity = rng.choice((1, 1, 1, 1, 2, 2, 3))
            cart[product.product_id] = (product, quantity)
            emit("add_to_cart", product.url_path, product.name, product=product,
                 extra={"quantity": quantity})
        if len(cart) > 1 and rng.random() < 0.25:
            dropped = rng.choice(sorted(cart))
            product, _ = cart.pop(dropped)
            emit("remove_from_cart", "/cart", "Cart", product=product)
        emit("page_view", "/cart", "Cart")
        if rng.random() >= P_BEGIN_CHECKOUT:
            return

        if self.member_id and not logged_in[0] and rng.random() < 0.7:
            emit("login", "/login?next=/checkout", "Sign in")
            logged_in[0] = self.remembered_login = True
        items = [{"product_id": p.product_id, "quantity": q, "price": p.discount_price}
                 for p, q in cart.values()]
        revenue = round(sum(i["price"] * i["quantity"] for i in items), 2)
        emit("page_view", "/checkout", "Checkout")
        emit("begin_checkout", "/checkout", "Checkout", extra={"value": revenue, "currency": CURRENCY})
        if rng.random() >= P_PURCHASE:
            return
        # The shop's order id (a uuid, as its database makes them), from 40 random bits.
        order = {"order_id": str(uuid.UUID(int=self.rng.getrandbits(40), version=4)), "revenue": revenue,
                 "currency": CURRENCY, "items": items}
        emit("purchase", "/checkout/complete", "Thank you", order=order)
        emit("page_view", "/checkout/complete", "Thank you")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def category_path(category: str) -> str:
    """The shop's path of a category page, e.g. ``/category/laptops``."""
    return f"/category/{_slug(category)}"


def simulate(catalog: Sequence[Product], *, shoppers: int, days: float, seed: int,
             window_end: datetime, bots: int | None = None, outage: datetime | None = None,
             late_day: date | None = None) -> Simulation:
    """Every session and HTTP batch of `shoppers` simulated shoppers over `days` up to window_end.

    `outage`: an hour in which only a tenth of the browsers get their events through
    (`_inject_outage`); `late_day`: a few sessions of that day are held back as the late batch
    (`Simulation.late_batches`), for the caller to send after an ETL run has loaded the rest."""

    if shoppers < 1:
        raise TrafficError(f"shoppers must be at least 1, got {shoppers}")
    if not 0 < days <= 30:
        raise TrafficError(f"days must be in (0, 30], got {days}")
    if window_end.tzinfo is None:
        raise TrafficError("window_end must carry a time zone")
    bots = max(1, round(shoppers / 40)) if bots is None else bots
    if bots < 0:
        raise TrafficError(f"bots must be >= 0, got {bots}")
    rng = random.Random(seed)  # noqa: S311 -- a reproducible simulation, not a secret
    window_end = window_end.astimezone(UTC).replace(microsecond=0)
    window_start = window_end - timedelta(days=days)
    span_hours = max(1, int(days * 24))
    hour_weights = [_hour_weight((window_start + timedelta(hours=h)).hour) for h in range(span_hours)]
    # Leave the last half hour empty: every session ends inside the window, none in the future.
    latest_start = window_end - timedelta(minutes=30)

    def start_time(r: random.Random = rng) -> datetime:
        hour = r.choices(range(span_hours), weights=hour_weights)[0]
        ts = window_start + timedelta(hours=hour, seconds=r.uniform(0, 3600))
        return min(ts, latest_start - timedelta(seconds=r.uniform(0, 1800)))

    sessions: list[Session] = []
    blocked: list[Session] = []
    population = [_Shopper(rng, catalog, is_bot=False) for _ in range(shoppers)]
    population += [_Shopper(rng, catalog, is_bot=True) for _ in range(bots)]
    # Ad blockers, order statuses and forged purchases draw from their own stream, so the
    # shoppers' sessions stay what they were without them.
    shop_rng = random.Random(f"{seed}-shop")  # noqa: S311 -- reproducible, not a secret
    for shopper in population:
        ad_blocked = not shopper.is_bot and shop_rng.random() < P_AD_BLOCKER
        visits = 1
        if not shopper.is_bot and rng.random() < P_RETURNING:
            visits += rng.choice((1, 1, 2, 3))
        for start in sorted(start_time() for _ in range(visits)):
            session = shopper.session(start)
            _fit_into_window(session, latest_start + timedelta(minutes=29))
            session.blocked = ad_blocked
            (blocked if ad_blocked else sessions).append(session)
    shopped = sorted(sessions + blocked, key=lambda s: (s.start, s.session_id))
    orders = [_order(shop_rng, s, e) for s in shopped if not s.is_bot
              for e in s.events if e["event_name"] == "purchase"]
    forged = max(1, shoppers // FORGED_PER_SHOPPERS)
    sessions += [_forged_purchase(shop_rng, catalog, start_time(shop_rng)) for _ in range(forged)]
    sessions.sort(key=lambda s: (s.start, s.session_id))
    # The outage and the late batch draw from streams of their own too: without them (or with
    # them), every session is what it would otherwise be, less what they take away or hold back.
    lost = None
    if outage is not None:
        sessions, lost = _inject_outage(random.Random(f"{seed}-outage"), sessions, orders, outage)  # noqa: S311
    if late_day is not None:
        _hold_back(random.Random(f"{seed}-late"), sessions, late_day)  # noqa: S311
    batches = [b for s in sessions if not s.late for b in _flushes(rng, s)]
    late_batches = [b for s in sessions if s.late for b in _flushes(rng, s)]
    return Simulation(seed, shoppers, days, window_start, window_end, sessions, batches, blocked, orders,
                      late_batches, lost, late_day)


def outage_hour(window_start: datetime, window_end: datetime, history: timedelta) -> datetime | None:
    """The hour for an outage that an anomaly check can see: the busiest hour (by the daily rhythm)
    that has `history` of traffic before it (after the window's first hour) and ends at least an
    hour before the window does; None when the window is too short for one."""
    first = _hour_floor(window_start) + timedelta(hours=1) + history
    last = _hour_floor(window_end) - timedelta(hours=2)
    candidates = []
    hour = max(first, last - timedelta(hours=23))
    while hour <= last:
        candidates.append(hour)
        hour += timedelta(hours=1)
    return max(candidates, key=lambda h: (_hour_weight(h.hour), h)) if candidates else None


def late_batch_day(window_start: datetime, window_end: datetime) -> date:
    """The day a late batch belongs to: the day before yesterday (the window's end being today) if
    the window covers at least LATE_DAY_MIN_HOURS of it, else yesterday if it does, else the day
    before the last that the window covers most. A day the window only grazes has too few sessions
    to hold back (a 48-hour window ending at 23:00 starts at 23:00 the day before yesterday)."""
    start, end = window_start.astimezone(UTC), window_end.astimezone(UTC)
    earlier = [start.date() + timedelta(days=n) for n in range((end.date() - start.date()).days)]

    def covered(day: date) -> timedelta:
        day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return min(end, day_start + timedelta(days=1)) - max(start, day_start)
    preferred = [d for d in (end.date() - timedelta(days=2), end.date() - timedelta(days=1)) if d in earlier]
    return next((d for d in preferred if covered(d) >= timedelta(hours=LATE_DAY_MIN_HOURS)),
                max(earlier, key=lambda d: (covered(d), d), default=start.date()))


def _hour_floor(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _inject_outage(rng: random.Random, sessions: list[Session], orders: list[dict],
                   hour: datetime) -> tuple[list[Session], dict]:
    """A broken release of the page script for one hour: on nine browsers in ten (OUTAGE_KEPT) it
    sends nothing, so a session active then loses its events of that hour (bots' too) and the
    dashboards see a tenth of the hour's traffic. The shop itself works: an order placed then
    exists, untracked if its purchase event was lost."""
    start, end = _hour_floor(hour), _hour_floor(hour) + timedelta(hours=1)
    hit = events_lost = 0
    lost_orders: set[str] = set()
    kept_sessions = []
    for session in sessions:
        inside = [e for e in session.events if start <= _parse_ts(e["event_timestamp"]) < end]
        if inside and rng.random() >= OUTAGE_KEPT:
            hit += 1
            events_lost += len(inside)
            lost_orders.update(e["context"]["order"]["order_id"] for e in inside
                               if e["event_name"] == "purchase")
            session.events = [e for e in session.events if not start <= _parse_ts(e["event_timestamp"]) < end]
            session.broken = [e for e in session.broken if not start <= _parse_ts(e["event_timestamp"]) < end]
        if session.events:
            kept_sessions.append(session)
    for order in orders:
        if order["order_id"] in lost_orders:
            order.update(tracked=False, lost_in_outage=True)
    return kept_sessions, {"hour": iso_utc(start), "kept_share": OUTAGE_KEPT, "sessions_hit": hit,
                           "events_lost": events_lost, "purchases_lost": len(lost_orders)}


def _hold_back(rng: random.Random, sessions: list[Session], day: date) -> None:
    """The late batch: a few shopper sessions of `day` (entirely on that day) whose trackers were
    offline, delivered only after a later ETL run has loaded the day (marked `late`)."""
    candidates = [s for s in sessions if not s.is_bot and not s.forged and parse_ts(
        s.events[0]["event_timestamp"]).date() == day == parse_ts(s.events[-1]["event_timestamp"]).date()]
    count = min(len(candidates), max(LATE_MIN, math.ceil(LATE_SHARE * len(candidates))))
    for session in rng.sample(candidates, count):
        session.late = True




def _order(rng: random.Random, session: Session, purchase: dict) -> dict:
    """The shop's order behind a purchase: written by the checkout a second before the thank-you
    page reports it; a guest checks out under a guest account of the browser."""
    created = _parse_ts(purchase["event_timestamp"]) - timedelta(seconds=1)
    status, roll = "paid", rng.random()
    for name, share in ORDER_STATUSES:
        if roll < share:
            status = name
            break
        roll -= share
    order = purchase["context"]["order"]
    return {"order_id": order["order_id"], "user_id": purchase["user_id"] or f"guest-{session.client_id}",
            "status": status, "currency": order["currency"], "total": order["revenue"],
            "created_at": iso_utc(created), "items": order["items"], "tracked": not session.blocked}


def _forged_purchase(rng: random.Random, catalog: Sequence[Product], start: datetime) -> Session:
    """A purchase event the shop has no order for (the endpoint is public: a test or a forgery)."""
    product = rng.choice(catalog)
    session = Session(_uuid(rng), _uuid(rng), rng.choice(BROWSER_USER_AGENTS), is_bot=False, forged=True)
    order = {"order_id": _uuid(rng), "revenue": product.discount_price, "currency": CURRENCY,
             "items": [{"product_id": product.product_id, "quantity": 1, "price": product.discount_price}]}
    for offset, name in ((0, "page_view"), (2, "purchase")):
        event = {"event_id": _uuid(rng), "event_timestamp": iso_utc(start + timedelta(seconds=offset)),
                 "event_name": name, "user_id": None, "user_login_state": "guest",
                 "identity_source": "anonymous", "client_id": session.client_id,
                 "session_id": session.session_id, "is_first_visit": offset == 0,
                 "page": {"url": SITE + "/checkout/complete", "path": "/checkout/complete",
                          "title": "Thank you", "referrer": ""}}
        if name == "purchase":
            event["context"] = {"order": order}
        session.events.append(event)
    return session


def _fit_into_window(session: Session, last: datetime) -> None:
    """Shift a session that would run past the window's end back in time (keeps its rhythm)."""
    end = _parse_ts(session.events[-1]["event_timestamp"])
    if end <= last:
        return
    shift = end - last
    for event in session.events + session.broken:
        ts = _parse_ts(event["event_timestamp"]) - shift
        event["event_timestamp"] = (int(ts.timestamp() * 1000) if isinstance(event["event_timestamp"], int)
                                    else iso_utc(ts))


def _flushes(rng: random.Random, session: Session) -> Iterable[Batch]:
    """The tracker's requests for one session: a few events per flush, the last by sendBeacon."""
    pending = list(session.events)
    for broken in session.broken:
        pending.insert(rng.randrange(len(pending) + 1), broken)
    while pending:
        size = min(len(pending), MAX_BATCH, rng.choice((1, 2, 3, 4, 5, 6, 8, 12)))
        chunk, pending = pending[:size], pending[size:]
        if not pending and rng.random() < P_BEACON:
            encoding = "beacon"
        else:
            encoding = "gzip" if rng.random() < P_GZIP else "json"
        yield Batch(session.user_agent, chunk, encoding)


# --------------------------------------------------------------------------------------------
# Sending


@dataclass
class SendResult:
    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    failed_requests: int = 0
    status: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)


def send(batches: Sequence[Batch], url: str, *, workers: int = 4, timeout: float = 30,
         attempts: int = 4, progress=None) -> SendResult:
    """POST every batch; retries connection errors and 5xx as the tracker does (it keeps the events)."""
    if not url.startswith(("http://", "https://")):
        raise TrafficError(f"--url must be an http(s) URL, got {url!r}")
    result = SendResult()

    def post(batch: Batch) -> tuple[int, dict]:
        delay = 0.25
        for attempt in range(1, attempts + 1):
            try:
                with urllib.request.urlopen(batch.request(url), timeout=timeout) as resp:  # noqa: S310
                    return resp.status, json.loads(resp.read() or b"{}")
            except urllib.error.HTTPError as exc:
                body = exc.read()
                if exc.code < 500 or attempt == attempts:
                    try:
                        return exc.code, json.loads(body or b"{}")
                    except ValueError:
                        return exc.code, {"error": body[:200].decode(errors="replace")}
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                if attempt == attempts:
                    raise TrafficError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from exc
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for batch, (status, body) in zip(batches, pool.map(post, batches), strict=True):
            result.requests += 1
            result.status[status] += 1
            if status == 202:
                result.accepted += int(body.get("accepted", 0))
                rejected = body.get("rejected") or []
                result.rejected += len(rejected)
                result.reasons.update(_reason_kind(r.get("reason", "")) for r in rejected)
            elif 400 <= status < 500:
                result.rejected += len(batch.events)
                result.reasons[_reason_kind(str(body.get("error") or body.get("message") or body))] += 1
            else:
                result.failed_requests += 1
            done += 1
            if progress and done % 200 == 0:
                progress(done, len(batches))
    return result


def _reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0][:80] or "unknown"


# --------------------------------------------------------------------------------------------
# The generator's record of what it sent


def _hour_key(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:00:00Z")


def tally(sessions: Sequence[Session]) -> dict:
    """What these sessions' (sent) events add up to, with bots kept apart, in the record's shapes:
    events by name, sessions, browsers, the funnel by sessions (overall and by the UTC day the
    session started), activity per UTC hour and day, purchases and revenue. The record is made of
    it, and so is the demo's record of its shop walk (localplatform.demo.walk)."""
    humans = [s for s in sessions if not s.is_bot]
    bots = [s for s in sessions if s.is_bot]
    by_name = {"human": Counter(), "bot": Counter()}
    by_hour: dict[str, dict] = defaultdict(lambda: {"events": 0, "sessions": set(), "clients": set(),
                                                    "by_name": Counter()})
    by_day: dict[str, dict] = defaultdict(lambda: {"events": 0, "sessions": set(), "clients": set(),
                                                   "by_name": Counter()})
    funnel = Counter()
    funnel_by_day: dict[str, Counter] = defaultdict(Counter)
    started_by_day: dict[str, dict] = defaultdict(lambda: {"sessions": 0, "clients": set()})
    bot_by_hour: Counter = Counter()
    purchases_by_day: dict[str, dict] = defaultdict(lambda: {"orders": 0, "revenue": 0.0})
    revenue = 0.0
    orders = 0
    for s in sessions:
        by_name["bot" if s.is_bot else "human"].update(e["event_name"] for e in s.events)
        if s.is_bot:
            bot_by_hour.update(_hour_key(_parse_ts(e["event_timestamp"])) for e in s.events)
            continue
        reached = s.names
        day = s.start.astimezone(UTC).strftime("%Y-%m-%d")
        started_by_day[day]["sessions"] += 1
        started_by_day[day]["clients"].add(s.client_id)
        for step in FUNNEL_STEPS:
            if step in reached:
                funnel[step] += 1
                funnel_by_day[day][step] += 1
        for e in s.events:
            ts = _parse_ts(e["event_timestamp"]).astimezone(UTC)   # a browser's own offset, too
            for bucket in (by_hour[_hour_key(ts)], by_day[ts.strftime("%Y-%m-%d")]):
                bucket["events"] += 1
                bucket["sessions"].add(s.session_id)
                bucket["clients"].add(s.client_id)
                bucket["by_name"][e["event_name"]] += 1
            if e["event_name"] == "purchase":
                orders += 1
                revenue += e["context"]["order"]["revenue"]
                purchases_by_day[day]["orders"] += 1
                purchases_by_day[day]["revenue"] += e["context"]["order"]["revenue"]

    def flat(buckets: dict[str, dict]) -> dict:
        return {k: {"events": v["events"], "sessions": len(v["sessions"]), "clients": len(v["clients"]),
                    "by_name": dict(sorted(v["by_name"].items()))} for k, v in sorted(buckets.items())}

    visits = Counter(s.client_id for s in humans)
    return {
        "events_by_name": {k: dict(sorted(v.items())) for k, v in by_name.items()},
        "sessions": {"human": len(humans), "bot": len(bots),
                     "returning_visitors": sum(1 for n in visits.values() if n > 1),
                     "logged_in": sum(1 for s in humans
                                      if any(e["user_login_state"] == "logged_in" for e in s.events))},
        "clients": {"human": len(visits), "bot": len({s.client_id for s in bots})},
        "funnel_sessions": {step: funnel[step] for step in FUNNEL_STEPS},
        "funnel_sessions_by_day": {d: {step: c[step] for step in FUNNEL_STEPS}
                                   for d, c in sorted(funnel_by_day.items())},
        # Sessions and distinct browsers by the UTC day the session started (as the warehouse counts them).
        "sessions_by_start_day": {d: {"sessions": v["sessions"], "clients": len(v["clients"])}
                                  for d, v in sorted(started_by_day.items())},
        # Purchase events and their revenue by the UTC day their session started (agg_funnel_daily's).
        "purchases_by_start_day": {d: {"orders": v["orders"], "revenue": round(v["revenue"], 2)}
                                   for d, v in sorted(purchases_by_day.items())},
        "activity_by_hour": flat(by_hour),
        "activity_by_day": flat(by_day),
        # Events of bot sessions per UTC hour (the dashboards leave them out; the bot share counts them).
        "bot_events_by_hour": dict(sorted(bot_by_hour.items())),
        "orders": orders,
        "revenue": round(revenue, 2),
    }


def _day_figures(tallied: dict, day: str) -> dict:
    """One day's part of a tally: its activity (by event day) and its sessions' funnel (by start day)."""
    empty = {"events": 0, "sessions": 0, "clients": 0, "by_name": {}}
    return {"activity": tallied["activity_by_day"].get(day, empty),
            "started": tallied["sessions_by_start_day"].get(day, {"sessions": 0, "clients": 0}),
            "funnel": tallied["funnel_sessions_by_day"].get(day, dict.fromkeys(FUNNEL_STEPS, 0)),
            "purchases": tallied["purchases_by_start_day"].get(day, {"orders": 0, "revenue": 0.0})}


def record(sim: Simulation, sent: SendResult | None, url: str | None) -> dict:
    """What was sent, with bots kept apart: the expected numbers for the warehouse and dashboards.
    The late batch is part of it (it was sent too); its own section says what it adds to its day."""
    tallied = tally(sim.sessions)
    humans = tallied["sessions"]["human"]
    batches = sim.batches + sim.late_batches
    valid = sum(len(s.events) for s in sim.sessions)
    broken = sum(len(s.broken) for s in sim.sessions)
    out = {
        "generator": "localplatform.traffic",
        "params": {"seed": sim.seed, "shoppers": sim.shoppers, "days": sim.days,
                   "bots": tallied["clients"]["bot"],
                   "window_start": iso_utc(sim.window_start), "window_end": iso_utc(sim.window_end),
                   "url": url},
        "sent": {
            "requests": len(batches),
            "events": valid + broken,
            "valid_events": valid,
            "invalid_events": broken,
            "human_events": sum(tallied["events_by_name"]["human"].values()),
            "bot_events": sum(tallied["events_by_name"]["bot"].values()),
            "by_encoding": dict(sorted(Counter(b.encoding for b in batches).items())),
        },
        **{k: v for k, v in tallied.items() if k not in ("orders", "revenue")},
        "orders": tallied["orders"],
        "revenue": tallied["revenue"],
        "shop_orders": shop_orders(sim),
        "conversion_rate": round(tallied["funnel_sessions"]["purchase"] / humans, 4) if humans else 0.0,
        "bot_user_agents": sorted({s.user_agent for s in sim.sessions if s.is_bot}),
        "outage": sim.outage,
        "late": _late_section(sim, tallied),
    }
    if sent is not None:
        out["responses"] = responses(sent)
    return out


def _late_section(sim: Simulation, tallied: dict) -> dict | None:
    """The late batch: its day, size, activity per hour, and its day's figures without it and with it."""
    late = sim.late
    if sim.late_day is None:
        return None
    day = sim.late_day.isoformat()
    on_time = tally([s for s in sim.sessions if not s.late])
    return {"day": day, "sessions": len(late), "events": sum(len(s.events) for s in late),
            "invalid_events": sum(len(s.broken) for s in late), "requests": len(sim.late_batches),
            "activity_by_hour": tally(late)["activity_by_hour"],
            "before": _day_figures(on_time, day), "after": _day_figures(tallied, day)}


def responses(sent: SendResult) -> dict:
    """The record's account of ingest's answers."""
    return {"requests": sent.requests, "accepted": sent.accepted, "rejected": sent.rejected,
            "failed_requests": sent.failed_requests,
            "http_status": {str(k): v for k, v in sorted(sent.status.items())},
            "reject_reasons": dict(sent.reasons.most_common())}


def shop_orders(sim: Simulation) -> dict:
    """The shop's side of the revenue (docs/warehouse-etl.md, "Booked revenue"): its orders, the
    booked ones (paid, shipped, delivered) and their revenue, refunds, the booked orders no tracker
    reported (ad blockers, and those whose purchase event the outage lost), the purchase events
    with no order (forged), and coverage."""
    order_ids = {o["order_id"] for o in sim.orders}
    booked = [o for o in sim.orders if o["status"] in BOOKED_STATUSES]
    booked_tracked = sum(o["tracked"] for o in booked)
    purchases = [e for s in sim.sessions if not s.is_bot for e in s.events if e["event_name"] == "purchase"]
    return {
        "orders": len(sim.orders),
        "booked_orders": len(booked),
        "booked_revenue": round(sum(o["total"] for o in booked), 2),
        "refunded_revenue": round(sum(o["total"] for o in sim.orders if o["status"] == "refunded"), 2),
        "ad_blocked_orders": sum(not o["tracked"] and not o.get("lost_in_outage") for o in sim.orders),
        "outage_orders": sum(bool(o.get("lost_in_outage")) for o in sim.orders),
        "untracked_orders": len(booked) - booked_tracked,
        "forged_purchases": sum(e["context"]["order"]["order_id"] not in order_ids for e in purchases),
        "coverage": round(booked_tracked / len(booked), 6) if booked else None,
    }


def window_end_now() -> datetime:
    """The default window end: the start of the current UTC hour (stable for an hour, so re-runs agree)."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localplatform.traffic",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="ingest endpoint, e.g. http://127.0.0.1:18080/clickstream "
                                      "(without it nothing is sent: --record only)")
    parser.add_argument("--shoppers", type=int, default=200)
    parser.add_argument("--days", type=float, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bots", type=int, default=None, help="crawler clients (default: shoppers/40, >= 1)")
    parser.add_argument("--window-end", help="RFC 3339 end of the traffic window (default: this UTC hour)")
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--record", type=Path, help="write the record of what was sent (JSON) here")
    parser.add_argument("--workers", type=int, default=4, help="parallel HTTP connections")
    args = parser.parse_args(argv)
    try:
        end = datetime.fromisoformat(args.window_end.replace("Z", "+00:00")) if args.window_end \
            else window_end_now()
        if end.tzinfo is None:
            raise TrafficError(f"--window-end {args.window_end!r} needs a UTC offset")
        sim = simulate(load_catalog(args.catalog), shoppers=args.shoppers, days=args.days, seed=args.seed,
                       window_end=end, bots=args.bots)
        result = None
        if args.url:
            result = send(sim.batches, args.url, workers=args.workers,
                          progress=lambda n, total: print(f"  sent {n}/{total} requests", flush=True))
        rec = record(sim, result, args.url)
    except TrafficError as exc:
        print(f"traffic: {exc}", file=sys.stderr)
        return 2
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.record.with_suffix(".tmp")
        tmp.write_text(json.dumps(rec, indent=1) + "\n", encoding="utf-8")
        tmp.replace(args.record)
    sent = rec["sent"]
    print(f"traffic: {sent['events']} events in {sent['requests']} requests "
          f"({rec['sessions']['human']} shopper sessions, {rec['sessions']['bot']} bot sessions)")
    if result is not None:
        print(f"traffic: accepted {result.accepted}, rejected {result.rejected}, "
              f"failed requests {result.failed_requests}")
        if result.failed_requests:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

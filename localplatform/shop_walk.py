"""The demo shop (localplatform/shop/), served locally, and shoppers walking it in headless Chromium.

The shop is static HTML and JavaScript over the OLTP seed catalog, instrumented with the built
tracker (tracker/dist/clickstream.min.js): home, category, product, cart, checkout and thank-you
pages at the paths the traffic generator uses (``/``, ``/category/<slug>``, ``/products/<slug>``,
``/cart``, ``/checkout``, ``/checkout/complete``). Its events are the ones a real browser makes,
sent by the tracker to the ingest endpoint it is given.

``walk_shop`` serves the shop, starts Chromium and walks a handful of seeded sessions through
it (landing page, sign-in, products, cart, checkout, order), each as a new browser (new
client id); it returns what each session did, so a caller can compare the warehouse with it::

    record = walk_shop("http://127.0.0.1:18080/clickstream", sessions=5, seed=7)

    python -m localplatform.shop_walk --ingest http://127.0.0.1:18080/clickstream --sessions 5

``walk_served`` walks a shop that is already served (``--serve``), as ``make demo`` does
(localplatform/demo/walk.py). The shop has no backend: the orders its checkout places wait in
its localStorage (``shop_orders``), and the walk's record carries them to whoever plays the
backend (the demo writes them into the shop database).

The ingest endpoint must allow the shop's origin (CORS); the local adapter allows any by default.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from localplatform import static_http, tracker_bundle, traffic
from localplatform.static_http import Generated

SHOP_DIR = Path(__file__).resolve().with_name("shop")
CURRENCY = traffic.CURRENCY
#: The tracker's settings in the shop: small batches, so a walk's events go out promptly.
TRACKER_OPTIONS = {"batchSize": 10, "flushIntervalMs": 2000}
PAGES = {"/": "index.html", "/cart": "cart.html", "/checkout": "checkout.html",
         "/checkout/complete": "thank-you.html"}
PAGE_PREFIXES = (("/category/", "category.html"), ("/products/", "product.html"))
CAMPAIGN = "?utm_source=newsletter&utm_medium=email&utm_campaign=shop-walk"
#: Where the walker goes between shoppers: the shop's origin without the tracker on the page.
BLANK = "/blank"
_BLANK_PAGE = Generated(b"<!doctype html><title>blank</title>", "text/html; charset=utf-8")


def shop_settings(endpoint: str, catalog: Sequence[traffic.Product],
                  tracker_options: dict | None = None) -> dict:
    """window.SHOP: the catalog as the tracker's product objects, categories, tracker settings."""
    products = [{"id": p.product_id, "name": p.name, "category": p.category, "brand": p.brand,
                 "price": p.price, "discountPrice": p.discount_price, "urlPath": p.url_path} for p in catalog]
    categories = sorted({p.category for p in catalog})
    return {"catalog": products, "currency": CURRENCY,
            "categories": [{"name": c, "path": traffic.category_path(c)} for c in categories],
            "tracker": {"endpoint": endpoint, **TRACKER_OPTIONS, **(tracker_options or {})}}


def shop_resolver(settings: dict) -> static_http.Resolver:
    """Maps the shop's paths onto its files, the built tracker and the generated /config.js."""
    config = Generated(f"window.SHOP = {json.dumps(settings)};\n".encode(), "text/javascript; charset=utf-8")
    dist = tracker_bundle.built()

    generated = {"/config.js": config, BLANK: _BLANK_PAGE}

    def resolve(path: str) -> Path | Generated | None:
        if path in generated:
            return generated[path]
        if path.startswith("/tracker/"):
            return static_http.file_under(dist, path.removeprefix("/tracker/"))
        if path.startswith("/assets/"):
            return static_http.file_under(SHOP_DIR, path)
        page = PAGES.get(path) or next((p for prefix, p in PAGE_PREFIXES
                                        if path.startswith(prefix) and len(path) > len(prefix)), None)
        return SHOP_DIR / page if page else None

    return resolve


def serve_shop(endpoint: str, *, host: str = "127.0.0.1", port: int = 0,
               catalog: Sequence[traffic.Product] | None = None,
               tracker_options: dict | None = None) -> static_http.StaticServer:
    """The shop on a background thread, its tracker sending to ``endpoint`` (``.url``, ``.stop()``)."""
    catalog = catalog if catalog is not None else traffic.load_catalog()
    settings = shop_settings(endpoint, catalog, tracker_options)
    return static_http.serve(shop_resolver(settings), host, port)


@dataclass
class WalkedSession:
    """One shopper's visit: the browser's client id, the events its clicks must have made, and the
    orders its checkout placed (id, buyer if signed in, revenue, items, when)."""

    client_id: str
    landing: str
    signed_in: bool = False
    events: Counter = field(default_factory=Counter)
    orders: list[dict] = field(default_factory=list)


@dataclass
class WalkRecord:
    shop_url: str
    sessions: list[WalkedSession]

    def events(self) -> Counter:
        """Expected events by name over all sessions."""
        total: Counter = Counter()
        for s in self.sessions:
            total.update(s.events)
        return total

    def as_dict(self) -> dict:
        return {"shop_url": self.shop_url, "events": dict(self.events()),
                "sessions": [asdict(s) | {"events": dict(s.events)} for s in self.sessions]}


class _Walker:
    """Drives one browser through the shop, counting the events each step makes."""

    def __init__(self, driver, shop_url: str, settings: dict) -> None:
        self.driver, self.base = driver, shop_url.rstrip("/")
        self.session: WalkedSession | None = None

    # -- browser steps ------------------------------------------------------------------------
    def _wait_ready(self) -> None:
        from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415 - selenium only when walking

        WebDriverWait(self.driver, 15, poll_frequency=0.05).until(
            lambda d: d.execute_script("return document.body && document.body.dataset.ready === '1'"))

    def _navigate(self, action: Callable[[], None]) -> None:
        from selenium.webdriver.common.by import By  # noqa: PLC0415
        from selenium.webdriver.support import expected_conditions  # noqa: PLC0415
        from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

        old = self.driver.find_element(By.TAG_NAME, "body")
        action()
        WebDriverWait(self.driver, 15, poll_frequency=0.05).until(expected_conditions.staleness_of(old))
        self._wait_ready()
        self._count("page_view")

    def _count(self, name: str) -> None:
        self.session.events[name] += 1

    def go(self, path: str) -> None:
        self.driver.get(self.base + path)
        self._wait_ready()
        self._count("page_view")

    def click(self, css: str, *, navigates: bool = False) -> None:
        from selenium.webdriver.common.by import By  # noqa: PLC0415

        element = self.driver.find_element(By.CSS_SELECTOR, css)
        if navigates:
            self._navigate(element.click)
        else:
            element.click()

    def _placed_order(self, order_id: str) -> dict:
        """The order as the shop's checkout placed it (kept in its localStorage, shop_orders)."""
        placed = self.driver.execute_script("return JSON.parse(localStorage.getItem('shop_orders') || '[]')")
        order = next(o for o in placed if o["orderId"] == order_id)
        return {"order_id": order_id, "user_id": order["userId"], "revenue": order["revenue"],
                "currency": order["currency"], "placed_at": order["placedAt"],
                "items": [{"product_id": i["productId"], "quantity": i["quantity"], "price": i["price"]}
                          for i in order["items"]]}

    def reset(self) -> None:
        """A new shopper: no cookies, no storage (the tracker's or the shop's) on the shop's origin."""
        self.driver.get(self.base + BLANK)
        self.driver.execute_script("localStorage.clear()")
        self.driver.delete_all_cookies()

    # -- a visit ------------------------------------------------------------------------------
    def visit(self, plan: VisitPlan) -> WalkedSession:
        from selenium.webdriver.common.by import By  # noqa: PLC0415
        from selenium.webdriver.support.ui import Select  # noqa: PLC0415

        self.reset()
        self.session = WalkedSession(client_id="", landing=plan.landing)
        self.go(plan.landing_path)
        if plan.landing == "product":
            self._count("product_view")
        if plan.sign_in:
            self.click("#account")
            self._count("login")
            self.session.signed_in = True
        for product_id, quantity in plan.views:
            if self.driver.execute_script("return document.body.dataset.page") != "category":
                self.click(f'header a[data-category="{plan.category}"]', navigates=True)
            self.click(f'a[data-product="{product_id}"]', navigates=True)
            self._count("product_view")
            if quantity:
                Select(self.driver.find_element(By.ID, "quantity")).select_by_value(str(quantity))
                self.click("#add-to-cart")
                self._count("add_to_cart")
        if plan.carts:
            self.click("#cart-link", navigates=True)
            if plan.remove:
                self.click("button.remove")
                self._count("remove_from_cart")
            if plan.checkout:
                self.click("#checkout", navigates=True)
                self._count("begin_checkout")
                if plan.purchase:
                    self.click("#place-order", navigates=True)  # the purchase leaves with the page's beacon
                    self._count("purchase")
                    order_id = self.driver.find_element(By.ID, "order").text.split()[1]
                    self.session.orders.append(self._placed_order(order_id))
        # Delivered before the next shopper's reset clears the storage the queue is in.
        self.driver.execute_async_script("clickstream.flush().then(arguments[arguments.length - 1])")
        self.session.client_id = self.driver.get_cookie("_cs_cid")["value"]
        return self.session


@dataclass(frozen=True)
class VisitPlan:
    """What one shopper does, drawn before the browser is touched (so a seed fixes the walk)."""

    landing: str                        # home, category or product
    landing_path: str
    category: str
    sign_in: bool
    views: tuple[tuple[str, int], ...]  # (product id, quantity put in the cart or 0), from the category page
    remove: bool                        # takes the first line out of the cart again
    checkout: bool
    purchase: bool

    @property
    def carts(self) -> bool:
        return any(quantity for _, quantity in self.views)


def plan_visits(settings: dict, *, sessions: int, seed: int) -> list[VisitPlan]:
    """The seeded plans of ``sessions`` visits: landing page (a campaign link sometimes),
    sign-in, one to three products of a category, the cart, the checkout, the order."""
    rng = random.Random(seed)  # noqa: S311 -- reproducible walks, not a secret
    plans = []
    for _ in range(sessions):
        category = rng.choice(settings["categories"])
        in_category = [p for p in settings["catalog"] if p["category"] == category["name"]]
        landing = rng.choice(("home", "category", "product"))
        paths = {"home": "/", "category": category["path"], "product": rng.choice(in_category)["urlPath"]}
        path = paths[landing]
        query = CAMPAIGN if rng.random() < 0.4 else ""
        sign_in = rng.random() < 0.35
        views = tuple((rng.choice(in_category)["id"], rng.choice((1, 1, 2, 3)) if rng.random() < 0.45 else 0)
                      for _ in range(rng.randint(1, 3)))
        carted = {product for product, quantity in views if quantity}
        remove = len(carted) > 1 and rng.random() < 0.3
        checkout = bool(carted) and rng.random() < 0.75
        plans.append(VisitPlan(landing, path + query, category["name"], sign_in, views, remove, checkout,
                               checkout and rng.random() < 0.75))
    return plans


def walk(driver, shop_url: str, settings: dict, *, sessions: int, seed: int) -> WalkRecord:
    """Walks ``sessions`` shoppers through the shop at ``shop_url`` in ``driver``'s browser."""
    walker = _Walker(driver, shop_url, settings)
    record = WalkRecord(shop_url, [walker.visit(plan) for plan in plan_visits(settings, sessions=sessions,
                                                                                seed=seed)])
    walker.reset()
    return record


def walk_served(shop_url: str, ingest_url: str, *, sessions: int = 5, seed: int = 7,
                catalog: Sequence[traffic.Product] | None = None) -> WalkRecord:
    """Walks ``sessions`` shoppers in headless Chromium through a shop already served at
    ``shop_url`` (``--serve``, as the demo runs it) whose tracker sends to ``ingest_url``."""
    from localplatform.chromium import headless_chromium  # noqa: PLC0415 - selenium only when walking

    settings = shop_settings(ingest_url, catalog if catalog is not None else traffic.load_catalog())
    with headless_chromium(as_shopper=True) as driver:
        return walk(driver, shop_url, settings, sessions=sessions, seed=seed)


def walk_shop(ingest_url: str, *, sessions: int = 5, seed: int = 7, host: str = "127.0.0.1", port: int = 0,
              catalog: Sequence[traffic.Product] | None = None) -> WalkRecord:
    """Serves the shop against ``ingest_url``, walks ``sessions`` shoppers through it in headless
    Chromium (as a person's browser, not flagged as a bot) and stops again. Every event is
    delivered (flushed) before it returns."""
    from localplatform.chromium import headless_chromium  # noqa: PLC0415 - selenium only when walking

    catalog = catalog if catalog is not None else traffic.load_catalog()
    settings = shop_settings(ingest_url, catalog)
    server = static_http.serve(shop_resolver(settings), host, port)
    try:
        with headless_chromium(as_shopper=True) as driver:
            return walk(driver, server.url, settings, sessions=sessions, seed=seed)
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ingest", required=True, help="the ingest endpoint, e.g. http://127.0.0.1:18080/clickstream")
    parser.add_argument("--sessions", type=int, default=5, help="shoppers to walk (default 5)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the walks (default 7)")
    parser.add_argument("--port", type=int, default=0, help="port of the shop (default: a free one)")
    parser.add_argument("--serve", action="store_true", help="only serve the shop until interrupted")
    args = parser.parse_args(argv)
    if args.sessions < 1:
        parser.error("--sessions must be at least 1")
    if args.serve:
        server = serve_shop(args.ingest, port=args.port)
        print(f"shop at {server.url}/ (tracking to {args.ingest}); Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
        server.stop()
        return 0
    record = walk_shop(args.ingest, sessions=args.sessions, seed=args.seed, port=args.port)
    json.dump(record.as_dict(), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

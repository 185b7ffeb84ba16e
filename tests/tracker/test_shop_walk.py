"""The demo shop: served locally, its paths and generated settings; and shoppers walking it in
headless Chromium against the local ingest adapter, every event they made in the raw bucket."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections import Counter

import pytest

from functions.schemas import validate_event
from localplatform import shop_walk, traffic
from tests.support.net import free_port
from tests.tracker.conftest import ingest_adapter

ENDPOINT = "https://ingest.example/clickstream"


def fetch(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - our own localhost server
            return resp.status, resp.headers["content-type"], resp.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["content-type"], ""


@pytest.fixture(scope="module")
def shop():
    server = shop_walk.serve_shop(ENDPOINT, tracker_options={"batchSize": 5})
    yield server
    server.stop()


def test_the_shop_serves_its_pages_at_the_generators_paths(shop):
    catalog = traffic.load_catalog()
    product = catalog[0]
    for path, page in [("/", "home"), (traffic.category_path(product.category), "category"),
                       (product.url_path, "product"), ("/cart", "cart"), ("/checkout", "checkout"),
                       ("/checkout/complete?order=ORD-1", "thank-you")]:
        status, kind, body = fetch(shop.url + path)
        assert (status, kind) == (200, "text/html; charset=utf-8"), path
        assert f'data-page="{page}"' in body and "/tracker/clickstream.min.js" in body, path
    status, kind, body = fetch(shop.url + "/tracker/clickstream.min.js")
    assert status == 200 and kind.startswith("text/javascript") and "var clickstream=" in body
    for missing in ("/nowhere", "/products/", "/assets/../../shop_walk.py", "/tracker/../package.json"):
        assert fetch(shop.url + missing)[0] == 404, missing


def test_the_shops_settings_hold_the_catalog_and_the_tracker_options(shop):
    status, kind, body = fetch(shop.url + "/config.js")
    assert (status, kind) == (200, "text/javascript; charset=utf-8")
    settings = json.loads(body.removeprefix("window.SHOP = ").rstrip().removesuffix(";"))
    assert settings["tracker"] == {"endpoint": ENDPOINT, "batchSize": 5, "flushIntervalMs": 2000}
    catalog = traffic.load_catalog()
    assert [p["id"] for p in settings["catalog"]] == [p.product_id for p in catalog]
    first = settings["catalog"][0]
    assert first == {"id": catalog[0].product_id, "name": catalog[0].name, "category": catalog[0].category,
                     "brand": catalog[0].brand, "price": catalog[0].price,
                     "discountPrice": catalog[0].discount_price, "urlPath": catalog[0].url_path}
    assert {c["name"] for c in settings["categories"]} == {p.category for p in catalog}


def test_visit_plans_are_seeded_and_consistent():
    settings = shop_walk.shop_settings(ENDPOINT, traffic.load_catalog())
    plans = shop_walk.plan_visits(settings, sessions=200, seed=5)
    assert plans == shop_walk.plan_visits(settings, sessions=200, seed=5)
    assert plans != shop_walk.plan_visits(settings, sessions=200, seed=6)
    category_of = {p["id"]: p["category"] for p in settings["catalog"]}
    for plan in plans:
        assert all(category_of[product] == plan.category for product, _ in plan.views)
        assert not plan.purchase or plan.checkout
        assert not plan.checkout or plan.carts
        assert not plan.remove or len({p for p, q in plan.views if q}) > 1
    assert {p.landing for p in plans} == {"home", "category", "product"}
    assert 0.2 < sum(p.purchase for p in plans) / len(plans) < 0.5, "some visits end in an order"


def _seed_covering_every_step(settings: dict, sessions: int) -> int:
    """A seed whose visits sign in, take something out of the cart and place an order."""
    for seed in range(1000):
        plans = shop_walk.plan_visits(settings, sessions=sessions, seed=seed)
        if all(any(getattr(p, step) for p in plans) for step in ("sign_in", "remove", "purchase")):
            return seed
    raise AssertionError("no seed below 1000 covers every step")


@pytest.mark.slow
@pytest.mark.e2e
def test_walked_sessions_land_in_the_bucket_as_a_persons_browser_made_them(raw, moto_endpoint):
    shop_port = free_port()
    seed = _seed_covering_every_step(shop_walk.shop_settings(ENDPOINT, traffic.load_catalog()), 2)
    with ingest_adapter(raw, moto_endpoint, f"http://127.0.0.1:{shop_port}") as ingest_url:
        record = shop_walk.walk_shop(ingest_url, sessions=2, seed=seed, port=shop_port)
    assert len(record.sessions) == 2
    assert len({s.client_id for s in record.sessions}) == 2, "each shopper is a new browser"
    catalog = {p.product_id: p for p in traffic.load_catalog()}
    for session in record.sessions:
        lines = raw.wait_events(session.client_id, sum(session.events.values()))
        events = [event for event, _ in lines]
        assert Counter(e["event_name"] for e in events) == session.events, session
        assert all(validate_event(e) is None for e in events)
        assert not any(enrichment["is_bot"] for _, enrichment in lines), "a person's user agent"
        assert len({e["session_id"] for e in events}) == 1
        # The order its checkout placed (kept for the shop's backend) is the one its purchase reports.
        purchases = {e["context"]["order"]["order_id"]: e for e in events if e["event_name"] == "purchase"}
        assert set(purchases) == {o["order_id"] for o in session.orders}
        for order in session.orders:
            reported = purchases[order["order_id"]]
            assert str(uuid.UUID(order["order_id"])) == order["order_id"], "a uuid, as the shop database's"
            assert reported["context"]["order"] == {k: order[k] for k in ("order_id", "revenue", "currency",
                                                                          "items")}
            assert order["revenue"] == pytest.approx(sum(i["price"] * i["quantity"] for i in order["items"]))
            assert order["user_id"] == reported["user_id"]   # the signed-in shopper, or None for a guest
            assert traffic.parse_ts(order["placed_at"]) <= traffic.parse_ts(reported["event_timestamp"])
        for e in events:
            if e["event_name"] == "product_view":
                product = catalog[e["context"]["product"]["id"]]
                assert e["context"]["product"] == product.context()
                assert e["page"]["path"] == product.url_path
        assert any(e["user_login_state"] == "logged_in" for e in events) == session.signed_in
    walked = record.events()
    assert {"login", "add_to_cart", "remove_from_cart", "begin_checkout", "purchase"} <= set(walked), walked

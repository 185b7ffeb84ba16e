"""The built tracker in headless Chromium, on a page of one origin posting to another: what it
sends lands in the raw bucket through the local ingest adapter and validates against the
project's JSON Schema; ids survive a reload; an offline spell loses nothing and duplicates
nothing (through the ETL into the warehouse); leaving the page sends the tail; 503 is retried,
400 is not; pending consent sends and stores nothing."""

from __future__ import annotations

import contextlib
import time
from collections import Counter

import psycopg2
import pytest

from functions.etl.config import Settings
from functions.etl.runner import run as run_etl
from functions.schemas import validate_enrichment, validate_event
from tests.etl.conftest import REGION
from tests.tracker.conftest import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

QUICK = {"batchSize": 50, "flushIntervalMs": 300}
PRODUCT = ("{id: 'LAP-003', name: 'Dell XPS 13 9315 i5 8GB 512GB', category: 'Laptops', brand: 'Dell', "
           "price: 999, discountPrice: 899, urlPath: '/products/dell-xps-13-9315-i5-8gb-512gb'}")


@contextlib.contextmanager
def timezone(browser, name: str):
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": name})
    try:
        yield
    finally:
        browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": ""})


def test_a_pages_events_land_in_the_bucket_and_follow_the_schema(page, ingest, raw, site):
    with timezone(page.browser, "Asia/Kathmandu"):
        page.open({"endpoint": ingest, **QUICK}, "/?utm_source=newsletter&utm_campaign=nov")
        page.run(f"""
            const p = {PRODUCT};
            clickstream.productView(p);
            clickstream.login('cognito-sub-1');
            clickstream.addToCart(p, 2);
            clickstream.removeFromCart(p);
            clickstream.addToCart(p);
            const items = [{{productId: p.id, quantity: 1, price: 899}}];
            clickstream.beginCheckout({{value: 899, currency: 'USD', items}});
            clickstream.purchase({{orderId: 'ORD-T1', revenue: 899, currency: 'USD', items}});
            clickstream.track('search', {{query: 'usb-c hub'}});
            clickstream.logout();
            history.pushState({{}}, '', '/cart');
        """)
        lines = raw.wait_events(page.client_id(), 10)
    for event, enrichment in lines:
        assert validate_event(event) is None, event
        assert validate_enrichment(enrichment) is None, enrichment
    events = [event for event, _ in lines]
    assert Counter(e["event_name"] for e in events) == {
        "page_view": 2, "product_view": 1, "login": 1, "add_to_cart": 2, "remove_from_cart": 1,
        "begin_checkout": 1, "purchase": 1, "search": 1}
    by_name = {e["event_name"]: e for e in events}
    landing = min((e for e in events if e["event_name"] == "page_view"), key=lambda e: e["event_timestamp"])
    assert landing["page"] == {"url": f"{site.origin}/?utm_source=newsletter&utm_campaign=nov", "path": "/",
                               "title": "Tracker test page", "referrer": ""}
    cart = next(e for e in events if e["page"]["path"] == "/cart")
    assert cart["page"]["referrer"] == landing["page"]["url"], "the SPA page view's referrer is the last page"
    assert by_name["purchase"]["context"]["order"] == {
        "order_id": "ORD-T1", "revenue": 899, "currency": "USD",
        "items": [{"product_id": "LAP-003", "quantity": 1, "price": 899}]}
    assert by_name["purchase"]["user_id"] == "cognito-sub-1"
    search = by_name["search"]
    assert (search["user_login_state"], search["identity_source"]) == ("logged_in", "cognito")
    assert cart["user_login_state"] == "guest"
    assert {e["client_id"] for e in events} == {page.client_id()}
    assert len({e["session_id"] for e in events}) == 1
    assert all(e["is_first_visit"] for e in events)
    assert all(e["event_timestamp"].endswith("+05:45") for e in events), "the browser's own offset"
    assert len({e["event_id"] for e in events}) == 10
    assert all("HeadlessChrome" in enrichment["user_agent"] for _, enrichment in lines)


def test_a_reload_keeps_client_id_and_session_id(page, ingest, raw):
    page.open({"endpoint": ingest, **QUICK})
    client = page.client_id()
    raw.wait_events(client, 1)
    page.browser.refresh()
    lines = raw.wait_events(client, 2)
    first, second = (event for event, _ in lines)
    assert (second["client_id"], second["session_id"]) == (first["client_id"], first["session_id"])
    assert page.client_id() == client
    assert page.run("return JSON.parse(localStorage.getItem('_cs')).c") == client


def test_offline_then_online_delivers_each_queued_event_exactly_once(page, ingest, raw, warehouse,
                                                                     moto_endpoint):
    page.open({"endpoint": ingest, **QUICK})
    client = page.client_id()
    raw.wait_events(client, 1)
    page.browser.set_network_conditions(offline=True, latency=0, download_throughput=-1, upload_throughput=-1)
    try:
        assert page.run("return navigator.onLine") is False
        page.run("for (let i = 0; i < 5; i++) clickstream.track('click', {i});")
        time.sleep(1.5)                      # the flush interval passes, and a retry or two fail
        assert len(raw.events(client)) == 1, "nothing got through while offline"
        assert len(page.run("return JSON.parse(localStorage.getItem('_cs_q'))")) == 5, "queued, in storage"
    finally:
        page.browser.delete_network_conditions()
    lines = raw.wait_events(client, 6)
    time.sleep(1)                            # anything sent twice would be here by now
    ids = Counter(event["event_id"] for event, _ in raw.events(client))
    assert len(ids) == 6 and set(ids.values()) == {1}, ids
    assert sorted(e["properties"]["i"] for e, _ in lines if e["event_name"] == "click") == [0, 1, 2, 3, 4]

    settings = Settings.from_env({
        "DWH_HOST": warehouse["host"], "DWH_PORT": str(warehouse["port"]), "DWH_USER": warehouse["user"],
        "DWH_DATABASE": warehouse["dbname"], "RAW_BUCKET": raw.name, "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_endpoint})
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DWH_PASSWORD", warehouse["password"])
        assert run_etl(settings, trigger="manual")["status"] == "succeeded"
    with contextlib.closing(psycopg2.connect(warehouse["dsn"])) as conn, conn.cursor() as cur:
        cur.execute("SELECT event_id::text, count(*) FROM clickstream_events WHERE client_id = %s GROUP BY 1",
                    (client,))
        assert dict(cur.fetchall()) == dict.fromkeys(ids, 1)


def test_pagehide_delivers_the_tail(page, ingest, raw, site):
    page.open({"endpoint": ingest, "batchSize": 100, "flushIntervalMs": 60000})
    client = page.client_id()
    page.run("clickstream.track('click'); clickstream.track('click'); clickstream.track('scroll_end');")
    time.sleep(0.5)
    assert raw.events(client) == [], "nothing before 100 events or a minute"
    page.browser.get(f"{site.origin}/blank.html")   # pagehide: the queue goes as a beacon
    names = [event["event_name"] for event, _ in raw.wait_events(client, 4, timeout=5)]
    assert sorted(names) == ["click", "click", "page_view", "scroll_end"]
    assert page.run("return localStorage.getItem('_cs_q')") == "[]"


def test_a_503_is_retried_after_retry_after_with_the_same_events(page, stub):
    stub.script = [(503, {"retry-after": "1"}, {"message": "raw bucket unavailable"})]
    page.open({"endpoint": stub.url, **QUICK}, "/?t=retry-503")
    first, second = wait_for("a retry", lambda: len(found := stub.from_page("t=retry-503")) >= 2 and found)
    assert [e["event_id"] for e in first.events] == [e["event_id"] for e in second.events]
    assert second.at - first.at >= 1.0, "not before Retry-After"
    time.sleep(1)
    assert len(stub.from_page("t=retry-503")) == 2, "accepted the second time: sent no more"
    assert page.warnings() == []


def test_a_400_is_not_retried_and_the_warning_quotes_the_reasons(page, stub):
    reason = "client_id: '' is too short (rule: minLength)"
    refusal = {"message": "no valid event", "accepted": 0, "rejected": [{"index": 0, "reason": reason}]}
    stub.script = [(400, {}, refusal)]
    page.open({"endpoint": stub.url, **QUICK}, "/?t=refused-400")
    wait_for("the first request", lambda: stub.from_page("t=refused-400"))
    time.sleep(2.5)                          # a retry would have come after at most 1 s
    assert len(stub.from_page("t=refused-400")) == 1
    warnings = "\n".join(page.warnings())
    assert "400: 1 event(s) refused and dropped" in warnings and reason in warnings, warnings
    assert page.run("return localStorage.getItem('_cs_q')") == "[]"


def test_consent_pending_sends_and_stores_nothing_until_granted(page, stub, site):
    options = {"endpoint": stub.url, "consent": "pending", "batchSize": 1, "flushIntervalMs": 100}
    page.open(options, "/?t=pending")
    page.run("clickstream.track('click'); clickstream.login('sub-2'); clickstream.track('click');")
    time.sleep(0.8)
    assert page.stored() == {"storage": [], "cookie": ""}
    page.browser.get(f"{site.origin}/blank.html")   # leaving drops what was held
    time.sleep(0.8)
    assert stub.from_page("t=pending") == []
    assert page.stored() == {"storage": [], "cookie": ""}

    page.open({"endpoint": stub.url, "consent": "pending", **QUICK}, "/?t=granted-later")
    page.run("clickstream.track('click'); clickstream.setConsent('granted');")
    sent = wait_for("the held events", lambda: stub.from_page("t=granted-later"))
    assert [e["event_name"] for r in sent for e in r.events] == ["page_view", "click"]
    assert sent[0].events[0]["client_id"] == page.client_id()

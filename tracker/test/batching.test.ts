// Batching and request shape: nothing goes before batchSize events or flushIntervalMs; requests
// stay within the contract's 500 events and 1 MiB; events map onto the contract's fields.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { InitOptions } from "../src/index";
import { MAX_BODY, createTracker } from "../src/tracker";
import { ENDPOINT, PRODUCT, backlog, open } from "./helpers";

test("nothing is sent before batchSize events; then one request with the batch", async (t) => {
  const { browser, tracker } = open(t); // batchSize 10: the page view and 8 clicks wait
  for (let i = 0; i < 8; i++) tracker.track("click");
  await browser.advance(4000);
  assert.equal(browser.requests.length, 0);
  tracker.track("click");
  await browser.settle();
  assert.equal(browser.requests.length, 1);
  const [r] = browser.requests;
  assert.equal(r.url, ENDPOINT);
  assert.equal(r.via, "fetch");
  assert.equal(r.events.length, 10);
  assert.ok(r.body.startsWith('{"events":['), "the contract's batch envelope");
});

test("what waits goes after flushIntervalMs", async (t) => {
  const { browser } = open(t, { flushIntervalMs: 2000 });
  await browser.advance(1999);
  assert.equal(browser.requests.length, 0);
  await browser.advance(1);
  assert.equal(browser.sent().length, 1);
  assert.equal(browser.nextTimerIn(), undefined, "no timer while nothing waits");
});

test("flush() sends now and resolves once the server answered", async (t) => {
  const { browser, tracker } = open(t);
  tracker.track("click");
  await tracker.flush();
  assert.equal(browser.sent().length, 2);
  assert.equal(browser.storage.getItem("_cs_q"), "[]");
});

test("a large backlog goes in requests of at most 500 events and 1 MiB", async (t) => {
  const { browser, tracker } = open(t, {}, undefined, (b) => b.storage.setItem("_cs_q", JSON.stringify([
    ...backlog(1200, (i) => ({ i })), ...backlog(40, (i) => ({ i: 1200 + i, text: "x".repeat(30000) }))])));
  await tracker.flush();
  const sizes = browser.requests.map((r) => new TextEncoder().encode(r.body).length);
  assert.ok(browser.requests.every((r) => r.events.length <= 500));
  assert.ok(sizes.every((s) => s <= MAX_BODY), `sizes ${sizes}`);
  assert.ok(sizes.some((s) => s > MAX_BODY - 32768), "the byte cap applied");
  assert.deepEqual(browser.sent().filter((e) => e.event_name == "note").map((e) => e.properties.i),
    Array.from({ length: 1240 }, (_, i) => i), "in order, each once");
  assert.equal(browser.sent().length, 1241);
  assert.ok(browser.requests.every((r) => r.keepalive == new TextEncoder().encode(r.body).length <= 65000),
    "keepalive only where the browsers' 64 KiB cap allows it");
});

test("an event over the contract's 32 KiB is not queued, with a warning", async (t) => {
  const { browser, tracker } = open(t);
  tracker.track("note", { text: "x".repeat(33000) });
  await tracker.flush();
  assert.deepEqual(browser.sent().map((e) => e.event_name), ["page_view"]);
  assert.match(browser.warnings.join("\n"), /note: over 32 KiB/);
});

test("track refuses a name the contract refuses", async (t) => {
  const { browser, tracker } = open(t);
  tracker.track("Promo-Banner Click");
  await tracker.flush();
  assert.equal(browser.sent().length, 1);
  assert.match(browser.warnings[0], /"Promo-Banner Click" must match/);
});

test("products, carts and orders map onto context and properties", async (t) => {
  const { browser, tracker } = open(t);
  tracker.productView(PRODUCT);
  tracker.addToCart(PRODUCT, 2);
  tracker.removeFromCart(PRODUCT);
  const items = [{ productId: "LAP-003", quantity: 2, price: 899 }];
  tracker.beginCheckout({ value: 1798, currency: "USD", items });
  tracker.purchase({ orderId: "ORD-1", revenue: 1798, currency: "USD", items });
  tracker.track("search", { query: "ssd" });
  await tracker.flush();
  const [, view, add, remove, checkout, order, search] = browser.sent();
  const product = { id: "LAP-003", name: PRODUCT.name, category: "Laptops", brand: "Dell", price: 999,
    discount_price: 899, url_path: PRODUCT.urlPath };
  assert.deepEqual([view.event_name, view.context], ["product_view", { product }]);
  assert.deepEqual([add.event_name, add.context, add.properties], ["add_to_cart", { product }, { quantity: 2 }]);
  assert.deepEqual([remove.event_name, remove.properties], ["remove_from_cart", { quantity: 1 }]);
  const lines = [{ product_id: "LAP-003", quantity: 2, price: 899 }];
  assert.deepEqual([checkout.event_name, checkout.properties], ["begin_checkout", { value: 1798, currency: "USD", items: lines }]);
  assert.deepEqual([order.event_name, order.context],
    ["purchase", { order: { order_id: "ORD-1", revenue: 1798, currency: "USD", items: lines } }]);
  assert.deepEqual(search.properties, { query: "ssd" });
  assert.equal("context" in search, false);
});

test("a product without an id or an order without an order id is refused with a warning", async (t) => {
  const { browser, tracker } = open(t);
  tracker.productView({ ...PRODUCT, id: "" });
  tracker.purchase({ orderId: "", revenue: 1, currency: "USD", items: [] });
  await tracker.flush();
  assert.equal(browser.sent().length, 1);
  assert.match(browser.warnings.join("\n"), /product_view: product.id is required[^]*purchase: order.orderId/);
});

test("init names a wrong option; a second init is ignored with a warning", (t) => {
  const { browser, tracker } = open(t);
  const bad: [object, RegExp][] = [
    [{}, /endpoint \(the ingest URL\) is required/],
    [{ endpoint: ENDPOINT, batchSize: 0 }, /batchSize must be a number from 1 to 500, not 0/],
    [{ endpoint: ENDPOINT, batchSize: 501 }, /batchSize/],
    [{ endpoint: ENDPOINT, flushIntervalMs: "5s" }, /flushIntervalMs must be a number/],
    [{ endpoint: ENDPOINT, sessionTimeoutMinutes: -1 }, /sessionTimeoutMinutes/],
    [{ endpoint: ENDPOINT, consent: "yes" }, /setConsent: "granted", "denied" or "pending", not "yes"/],
  ];
  for (const [options, message] of bad) assert.throws(() => createTracker().init(options as InitOptions), message);
  tracker.init({ endpoint: "https://elsewhere.example/" });
  assert.match(browser.warnings.join(), /init: called again, ignored/);
});

// Ids and timestamps: event_id UUIDs (and their fallbacks), RFC 3339 with the browser's offset,
// and the client id in a first-party cookie and localStorage for about 13 months.
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { test } from "node:test";
import { COOKIE, ID_LIFETIME_MS, STATE_KEY } from "../src/tracker";
import { timestamp, uuid } from "../src/util";
import { FakeBrowser } from "./fake-browser";
import { assertContract, load, open } from "./helpers";

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function withCrypto(value: unknown, body: () => void) {
  const saved = Object.getOwnPropertyDescriptor(globalThis, "crypto"); // none before Node.js 19
  Object.defineProperty(globalThis, "crypto", { value, configurable: true });
  try {
    body();
  } finally {
    if (saved) Object.defineProperty(globalThis, "crypto", saved);
    else delete (globalThis as { crypto?: unknown }).crypto;
  }
}

test("uuid: crypto.randomUUID, else getRandomValues, else Math.random, always version 4", () => {
  withCrypto(webcrypto, () => assert.match(uuid(), UUID4));
  for (const fake of [{ getRandomValues: (b: Uint8Array<ArrayBuffer>) => webcrypto.getRandomValues(b) }, undefined]) {
    withCrypto(fake, () => {
      const ids = new Set(Array.from({ length: 2000 }, uuid));
      assert.equal(ids.size, 2000);
      for (const id of ids) assert.match(id, UUID4);
    });
  }
  withCrypto({ getRandomValues: (b: Uint8Array) => b.fill(255) }, () => {
    assert.equal(uuid(), "ffffffff-ffff-4fff-bfff-ffffffffffff"); // the version and variant bits are set
  });
});

test("timestamp: RFC 3339 with milliseconds and the browser's offset, the same instant", () => {
  const saved = process.env.TZ;
  const ms = Date.UTC(2026, 10, 21, 23, 5, 9, 7);
  try {
    for (const [tz, want] of [["UTC", "2026-11-21T23:05:09.007+00:00"], ["Asia/Kathmandu", "2026-11-22T04:50:09.007+05:45"],
      ["America/St_Johns", "2026-11-21T19:35:09.007-03:30"], ["Asia/Singapore", "2026-11-22T07:05:09.007+08:00"]]) {
      process.env.TZ = tz;
      assert.equal(timestamp(ms), want, tz);
      assert.equal(Date.parse(timestamp(ms)), ms);
    }
  } finally {
    process.env.TZ = saved;
  }
});

test("every event follows the contract's fields", (t) => {
  const { browser, tracker } = open(t, { batchSize: 1 });
  tracker.track("search", { query: "usb-c hub" });
  tracker.login("user-1");
  tracker.productView({ id: "P1", name: "n", category: "c", brand: "b", price: 1 });
  tracker.purchase({ orderId: "O1", revenue: 1, currency: "USD", items: [{ productId: "P1", quantity: 1, price: 1 }] });
  return browser.advance(10).then(() => {
    assert.equal(browser.sent().length, 5);
    browser.sent().forEach(assertContract);
  });
});

test("client id: a first-party cookie for about 13 months and the same id in localStorage", (t) => {
  const { browser } = open(t, { cookieDomain: "shop.example" });
  const cookie = browser.cookie(COOKIE)!;
  assert.match(cookie.value, UUID4);
  assert.equal(cookie.expires - browser.now, ID_LIFETIME_MS);
  assert.ok(ID_LIFETIME_MS >= 395 * 864e5 && ID_LIFETIME_MS <= 400 * 864e5, "13 months, within Chrome's 400-day cap");
  assert.match(cookie.attributes, /Path=\/; SameSite=Lax; Domain=shop\.example; Secure/);
  assert.equal(JSON.parse(browser.storage.getItem(STATE_KEY)!).c, cookie.value);
});

test("no Secure attribute on http pages (the cookie would not be kept)", (t) => {
  const { browser } = open(t, {}, "http://localhost:3000/");
  assert.doesNotMatch(browser.cookie(COOKIE)!.attributes, /Secure/);
});

test("client id: kept while the visitor comes back within 13 months, new after", async (t) => {
  const { browser, tracker } = open(t);
  await tracker.flush();
  const first = browser.sent()[0];
  assert.equal(first.is_first_visit, true);
  browser.now += 390 * 864e5;
  await load(browser).flush();
  const back = browser.sent()[1];
  assert.equal(back.client_id, first.client_id);
  assert.equal(back.is_first_visit, false);
  browser.now += 397 * 864e5; // each visit renews the lifetime; this absence outlives it
  await load(browser).flush();
  const later = browser.sent()[2];
  assert.notEqual(later.client_id, first.client_id);
  assert.equal(later.is_first_visit, true);
});

test("client id: restored from localStorage when cookies were cleared, and from the cookie when storage was", async (t) => {
  const { browser, tracker } = open(t);
  await tracker.flush();
  const id = browser.sent()[0].client_id;
  browser.clearCookies();
  await load(browser).flush();
  assert.equal(browser.sent()[1].client_id, id);
  assert.equal(browser.cookie(COOKIE)!.value, id);
  browser.storage.clear();
  await load(browser).flush();
  assert.equal(browser.sent()[2].client_id, id);
});

test("a cookie value that is not an id is not used", async (t) => {
  const { browser, tracker } = open(t);
  await tracker.flush();
  const id = browser.sent()[0].client_id;
  (globalThis as any).document.cookie = `${COOKIE}=<script>; Max-Age=99`;
  await load(browser).flush();
  assert.equal(browser.sent()[1].client_id, id);
});

test("with localStorage disabled the cookie keeps the client and the page keeps its session", async (t) => {
  const browser = new FakeBrowser().install();
  t.after(() => browser.uninstall());
  browser.storage.disabled = true;
  const tracker = load(browser, { batchSize: 3 });
  tracker.track("click");
  tracker.track("click");
  await browser.advance(10);
  const sent = browser.sent();
  assert.equal(sent.length, 3);
  assert.equal(new Set(sent.map((e) => e.session_id)).size, 1);
  assert.equal(sent[0].client_id, browser.cookie(COOKIE)!.value);
});

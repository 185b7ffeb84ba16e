// Consent: pending stores and sends nothing (events wait in memory); granted sends them; denied
// clears everything; Do Not Track and Global Privacy Control mean nothing is stored or sent.
import assert from "node:assert/strict";
import { test } from "node:test";
import { COOKIE, QUEUE_KEY, STATE_KEY, createTracker } from "../src/tracker";
import { FakeBrowser } from "./fake-browser";
import { ENDPOINT, load, open } from "./helpers";

/** Nothing in storage or cookies now; with `ever`, no cookie was ever set either. */
const nothingStored = (b: FakeBrowser, ever = false) => {
  assert.equal(b.storage.items.size, 0, `storage: ${[...b.storage.items.keys()]}`);
  assert.equal(b.cookie(COOKIE), undefined);
  if (ever) assert.deepEqual(b.cookieWrites.filter((w) => !/Max-Age=0;/.test(w)), []);
};

test("pending: no cookie, no storage, nothing sent, whatever happens on the page", async (t) => {
  const { browser, tracker } = open(t, { consent: "pending", batchSize: 1 });
  for (let i = 0; i < 5; i++) tracker.track("click");
  tracker.login("sub-1");
  await tracker.flush();
  await browser.advance(60000);
  browser.hide();
  browser.fire("pagehide");
  assert.equal(browser.requests.length, 0);
  nothingStored(browser, true);
});

test("pending, then granted on the page: the held events go, with ids made at that moment", async (t) => {
  const { browser, tracker } = open(t, { consent: "pending" });
  tracker.track("click");
  tracker.login("sub-1");
  tracker.setConsent("granted");
  await tracker.flush();
  const sent = browser.sent();
  assert.deepEqual(sent.map((e) => [e.event_name, e.user_login_state]),
    [["page_view", "guest"], ["click", "guest"], ["login", "logged_in"]]);
  assert.equal(new Set(sent.map((e) => e.client_id)).size, 1);
  assert.equal(sent[0].client_id, browser.cookie(COOKIE)!.value);
  assert.ok(sent.every((e) => e.is_first_visit && e.session_id));
});

test("pending, then the page is left: the held events are gone", async (t) => {
  const { browser } = open(t, { consent: "pending" });
  browser.leave();
  const next = load(browser, { consent: "pending" }, "/cart");
  next.setConsent("granted");
  await next.flush();
  assert.deepEqual(browser.sent().map((e) => e.page.path), ["/cart"]);
});

test("pending, then denied: the held events are dropped", async (t) => {
  const { browser, tracker } = open(t, { consent: "pending" });
  tracker.setConsent("denied");
  tracker.setConsent("granted");
  await tracker.flush();
  assert.equal(browser.requests.length, 0);
});

test("denied clears the ids, the queue and the stored state; granting again is a new client", async (t) => {
  const { browser, tracker } = open(t);
  await tracker.flush();
  const before = browser.sent()[0].client_id;
  browser.respond = () => "network";
  tracker.login("sub-1");
  tracker.track("click");
  await tracker.flush();
  assert.ok(JSON.parse(browser.storage.getItem(QUEUE_KEY)!).length == 2);
  tracker.setConsent("denied");
  nothingStored(browser);
  tracker.track("click");
  await browser.advance(120000);
  assert.equal(browser.requests.length, 2, "nothing after the denial, no retry");
  nothingStored(browser);
  browser.respond = (r) => ({ status: 202, body: { accepted: r.events.length, rejected: [] } });
  tracker.setConsent("granted");
  tracker.track("click");
  await tracker.flush();
  const after = browser.sent().at(-1)!;
  assert.notEqual(after.client_id, before);
  assert.deepEqual([after.user_login_state, after.is_first_visit], ["guest", true]);
});

test("denied at init clears what an earlier page stored", async (t) => {
  const { browser, tracker } = open(t);
  await tracker.flush();
  assert.ok(browser.storage.getItem(STATE_KEY));
  const next = load(browser, { consent: "denied" }, "/cart");
  await next.flush();
  assert.equal(browser.requests.length, 1);
  nothingStored(browser);
});

test("setConsent before init is the consent init starts with", async (t) => {
  const browser = new FakeBrowser().install();
  t.after(() => browser.uninstall());
  const tracker = createTracker();
  tracker.setConsent("pending");
  tracker.init({ endpoint: ENDPOINT });
  await tracker.flush();
  assert.equal(browser.requests.length, 0);
  nothingStored(browser, true);
});

for (const [what, set] of [
  ["Do Not Track", (b: FakeBrowser) => (b.doNotTrack = "1")],
  ["Global Privacy Control", (b: FakeBrowser) => (b.globalPrivacyControl = true)],
] as const) {
  test(`${what}: nothing stored or sent, even when consent is granted`, async (t) => {
    const { browser, tracker } = open(t, {}, undefined, set);
    tracker.track("click");
    tracker.setConsent("granted");
    tracker.track("click");
    await tracker.flush();
    browser.leave();
    assert.equal(browser.requests.length, 0);
    nothingStored(browser, true);
  });

  test(`${what} is ignored with respectDoNotTrack: false`, async (t) => {
    const { browser, tracker } = open(t, { respectDoNotTrack: false }, undefined, set);
    await tracker.flush();
    assert.equal(browser.sent().length, 1);
  });
}

// The queue in localStorage: it survives reloads and outages, is bounded (the oldest dropped),
// and the newest event counts what was dropped in properties.queue_dropped.
import assert from "node:assert/strict";
import { test } from "node:test";
import { QUEUE_KEY } from "../src/tracker";
import { load, open } from "./helpers";

const stored = (b: { storage: { getItem(k: string): string | null } }) => JSON.parse(b.storage.getItem(QUEUE_KEY) || "[]");

test("what waits is in localStorage and goes out from the next page", async (t) => {
  const { browser, tracker } = open(t);
  tracker.track("click");
  assert.deepEqual(stored(browser).map((e: { event_name: string }) => e.event_name), ["page_view", "click"]);
  const next = load(browser, {}, "/cart");   // a reload before the flush interval: nothing lost
  await next.flush();
  assert.deepEqual(browser.sent().map((e) => e.event_name + e.page.path), ["page_view/", "click/", "page_view/cart"]);
});

test("an offline hour: every event is kept and sent once when the network is back", async (t) => {
  const { browser, tracker } = open(t, { flushIntervalMs: 1000 });
  browser.respond = () => "network";
  for (let minute = 0; minute < 60; minute++) {
    tracker.track("click", { minute });
    await browser.advance(60000);
  }
  const failed = browser.requests.length;
  assert.ok(failed > 20, "it kept trying");
  browser.respond = (r) => ({ status: 202, body: { accepted: r.events.length, rejected: [] } });
  browser.fire("online");
  await browser.settle();
  const delivered = browser.requests.slice(failed).flatMap((r) => r.events);
  assert.equal(delivered.length, 61);
  assert.equal(new Set(delivered.map((e) => e.event_id)).size, 61);
  assert.deepEqual(stored(browser), []);
});

test("bounded: beyond maxQueuedEvents the oldest go, and the newest event counts them", async (t) => {
  const { browser, tracker } = open(t, { maxQueuedEvents: 5, batchSize: 100 });
  browser.respond = () => "network";
  for (let i = 1; i <= 7; i++) tracker.track("click", { i });
  let q = stored(browser);
  assert.deepEqual(q.map((e: { properties: { i: number } }) => e.properties.i), [3, 4, 5, 6, 7]);
  assert.deepEqual(q.map((e: { properties: { queue_dropped?: number } }) => e.properties.queue_dropped ?? 0),
    [0, 0, 1, 1, 1], "the page view and clicks 1 and 2");
  for (let i = 8; i <= 12; i++) tracker.track("click", { i }); // drops 3..7, including the counting one
  q = stored(browser);
  assert.deepEqual(q.map((e: { properties: { i: number } }) => e.properties.i), [8, 9, 10, 11, 12]);
  const counted = q.reduce((n: number, e: { properties: { queue_dropped?: number } }) => n + (e.properties.queue_dropped ?? 0), 0);
  assert.equal(counted, 8, "every dropped event is counted once");
});

test("a full localStorage drops the oldest events until the queue fits", async (t) => {
  const { browser, tracker } = open(t, { batchSize: 100 });
  browser.respond = () => "network";
  browser.storage.quota = 6000;
  for (let i = 0; i < 30; i++) tracker.track("click", { i });
  const q = stored(browser);
  assert.ok(q.length > 3 && q.length < 20, `${q.length} kept`);
  assert.equal(q.at(-1).properties.i, 29, "the newest kept");
  const counted = q.reduce((n: number, e: { properties: { queue_dropped?: number } }) => n + (e.properties.queue_dropped ?? 0), 0);
  assert.equal(counted + q.length, 31);
});

test("an object passed to track and changed afterwards does not change the queued event", async (t) => {
  const { browser, tracker } = open(t);
  const properties = { query: "ssd" };
  tracker.track("search", properties);
  properties.query = "changed";
  await tracker.flush();
  assert.equal(browser.sent()[1].properties.query, "ssd");
});

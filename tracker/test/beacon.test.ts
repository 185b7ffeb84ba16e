// Leaving the page: on visibilitychange to hidden and on pagehide the whole queue goes out as
// sendBeacon (text/plain strings), split for the contract's caps and the 64 KB beacon cap, else
// as fetch with keepalive; offline or during an outage the events stay queued.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BEACON_MAX, QUEUE_KEY } from "../src/tracker";
import { split } from "../src/util";
import { ENDPOINT, backlog, load, open } from "./helpers";

const size = (s: string) => new TextEncoder().encode(s).length;

test("hidden: the queue goes as one beacon of a string (text/plain), and is emptied", async (t) => {
  const { browser, tracker } = open(t);
  tracker.track("click");
  browser.hide();
  assert.equal(browser.requests.length, 1);
  const [r] = browser.requests;
  assert.deepEqual([r.via, r.url, r.events.length], ["beacon", ENDPOINT, 2]);
  assert.equal(browser.storage.getItem(QUEUE_KEY), "[]");
  browser.fire("pagehide");
  assert.equal(browser.requests.length, 1, "pagehide after hidden sends nothing twice");
});

test("pagehide alone sends the tail too", async (t) => {
  const { browser, tracker } = open(t);
  tracker.track("click");
  browser.fire("pagehide");
  assert.deepEqual(browser.sent().map((e) => e.event_name), ["page_view", "click"]);
});

test("a large queue is split to the 64 KB beacon cap and 500 events, every event once, in order", async (t) => {
  const { browser } = open(t);
  // Written as another tab of the shop would (this page has no timer or request running for them).
  browser.storage.setItem(QUEUE_KEY, JSON.stringify([
    ...backlog(100, (i) => ({ i, text: "x".repeat(2500) })), ...backlog(700, (i) => ({ i: i + 100 }))]));
  browser.hide();
  const beacons = browser.requests;
  assert.ok(beacons.length >= 6, `${beacons.length} beacons`);
  assert.ok(beacons.every((r) => r.via == "beacon" && size(r.body) <= BEACON_MAX && r.events.length <= 500));
  const got = beacons.flatMap((r) => r.events).filter((e) => e.event_name == "note").map((e) => e.properties.i);
  assert.deepEqual(got, Array.from({ length: 800 }, (_, i) => i));
  assert.equal(browser.storage.getItem(QUEUE_KEY), "[]");
});

test("split: caps on events and bytes; an event bigger than the cap goes alone", () => {
  const e = (n: number) => JSON.stringify({ x: "y".repeat(n) });
  assert.deepEqual(split([e(1), e(1), e(1)], 2, 1000).map((p) => p.length), [2, 1]);
  const parts = split([e(40), e(40), e(40), e(200), e(40)], 500, 120);
  assert.deepEqual(parts.map((p) => p.length), [2, 1, 1, 1]);
  for (const p of parts.slice(0, 2)) assert.ok(size(`{"events":[${p.join(",")}]}`) <= 120);
  assert.deepEqual(split([], 500, 100), []);
});

test("a beacon the browser refuses goes as fetch with keepalive, and stays queued until answered", async (t) => {
  const { browser, tracker } = open(t);
  tracker.track("click");
  browser.beaconAccepts = () => false;
  browser.respond = () => "network";
  browser.hide();
  const [r] = browser.requests;
  assert.deepEqual([r.via, r.keepalive, r.events.length], ["fetch", true, 2]);
  await browser.settle();
  assert.equal(JSON.parse(browser.storage.getItem(QUEUE_KEY)!).length, 2, "kept: the fetch failed");
  await load(browser, {}, "/next").flush();
  assert.equal(browser.sent().filter((e) => e.event_name == "click").length, 2, "sent again from the next page");
});

test("offline: nothing is beaconed, the next page sends it", async (t) => {
  const { browser, tracker } = open(t);
  tracker.track("click");
  browser.onLine = false;
  browser.leave();
  assert.equal(browser.requests.length, 0);
  browser.onLine = true;
  await load(browser, {}, "/next").flush();
  assert.deepEqual(browser.sent().map((e) => e.event_name), ["page_view", "click", "page_view"]);
});

test("during an outage a beacon's events stay queued: a beacon cannot confirm receipt", async (t) => {
  const { browser, tracker } = open(t);
  browser.respond = () => ({ status: 503 });
  tracker.track("click");
  await tracker.flush();
  browser.leave();
  assert.deepEqual(browser.requests.map((r) => r.via), ["fetch", "beacon"]);
  assert.equal(JSON.parse(browser.storage.getItem(QUEUE_KEY)!).length, 2);
  browser.respond = (r) => ({ status: 202, body: { accepted: r.events.length, rejected: [] } });
  await load(browser, {}, "/next").flush();
  assert.equal(JSON.parse(browser.storage.getItem(QUEUE_KEY)!).length, 0);
});

test("an event being fetched is not beaconed as well", async (t) => {
  const { browser, tracker } = open(t);
  let answer: (v: unknown) => void = () => undefined;
  const slow = new Promise((r) => (answer = r));
  browser.respond = (r) => ({ status: 202, body: { accepted: r.events.length, rejected: [] } });
  const pending = tracker.flush();
  tracker.track("click");
  browser.hide();
  assert.deepEqual(browser.requests.map((r) => [r.via, r.events.map((e) => e.event_name)]),
    [["fetch", ["page_view"]], ["beacon", ["click"]]]);
  answer(undefined);
  await Promise.all([pending, slow]);
});

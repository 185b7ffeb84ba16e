// Delivery: network errors, 5xx and 429 are retried with exponential backoff and jitter,
// honouring Retry-After, with the same event ids; other 4xx are dropped with a warning.
import assert from "node:assert/strict";
import { test } from "node:test";
import { RETRY_AFTER_MAX_MS, RETRY_MAX_MS, backoff, retryAfter } from "../src/util";
import { open } from "./helpers";

test("backoff: doubles from 1 s to a 60 s cap, jittered within the upper half", () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = Math.min(RETRY_MAX_MS, 1000 * 2 ** attempt);
    assert.equal(backoff(attempt, 0), ceiling / 2);
    assert.equal(backoff(attempt, 1), ceiling);
    assert.equal(backoff(attempt, 0.5), ceiling * 0.75);
  }
});

test("backoff: never sooner than Retry-After, which is capped at an hour", () => {
  assert.equal(backoff(0, 1, 7000), 7000);
  assert.equal(backoff(8, 1, 7000), RETRY_MAX_MS);
  assert.equal(backoff(0, 0, 10 * RETRY_AFTER_MAX_MS), RETRY_AFTER_MAX_MS);
});

test("Retry-After: seconds or an HTTP date", () => {
  const now = Date.UTC(2026, 10, 21, 12, 0, 0);
  assert.equal(retryAfter("5", now), 5000);
  assert.equal(retryAfter(" 120 ", now), 120000);
  assert.equal(retryAfter("Sat, 21 Nov 2026 12:00:30 GMT", now), 30000);
  assert.equal(retryAfter("Sat, 21 Nov 2026 11:00:00 GMT", now), 0);
  assert.equal(retryAfter("soon", now), 0);
  assert.equal(retryAfter(null, now), 0);
});

function script(browser: { respond: unknown }, answers: ("network" | { status: number; body?: unknown; headers?: Record<string, string> })[]) {
  browser.respond = (r: { events: unknown[] }) =>
    answers.shift() ?? { status: 202, body: { accepted: r.events.length, rejected: [] } };
}

for (const [what, answer] of [
  ["a network error", "network"],
  ["a 503", { status: 503, body: { message: "raw bucket unavailable" } }],
  ["a 500", { status: 500, body: { message: "Internal Server Error" } }],
  ["a 429", { status: 429, body: { message: "Too Many Requests" } }],
] as const) {
  test(`${what} is retried with the same event ids, after a backoff`, async (t) => {
    const { browser, tracker } = open(t);
    script(browser, [answer, answer]);
    const random = Math.random;
    Math.random = () => 0.5;
    t.after(() => (Math.random = random));
    tracker.track("click");
    await tracker.flush();                   // fails: next try in 0.75 s (1 s, jitter 0.5)
    assert.equal(browser.nextTimerIn(), 750);
    await browser.advance(749);
    assert.equal(browser.requests.length, 1);
    await browser.advance(1);                // fails again: 1.5 s
    assert.equal(browser.requests.length, 2);
    assert.equal(browser.nextTimerIn(), 1500);
    await browser.advance(1500);
    assert.equal(browser.requests.length, 3);
    const ids = browser.requests.map((r) => r.events.map((e) => e.event_id).join());
    assert.equal(new Set(ids).size, 1, "the same events each time");
    assert.equal(browser.storage.getItem("_cs_q"), "[]", "done once accepted");
    assert.equal(browser.warnings.length, 0);
  });
}

test("Retry-After is honoured: nothing goes sooner, not even a full batch", async (t) => {
  const { browser, tracker } = open(t, { batchSize: 2 });
  script(browser, [{ status: 503, headers: { "retry-after": "7" } }]);
  tracker.track("click");                    // the page view and this: a batch of two
  await browser.settle();
  assert.equal(browser.requests.length, 1);
  tracker.track("click");
  tracker.track("click");
  await tracker.flush();
  await browser.advance(6999);
  assert.equal(browser.requests.length, 1);
  await browser.advance(1);
  assert.equal(browser.requests.length, 2);
  assert.equal(browser.requests[1].events.length, 4);
});

test("the online event retries at once", async (t) => {
  const { browser, tracker } = open(t);
  script(browser, ["network"]);
  await tracker.flush();
  assert.ok(browser.nextTimerIn()! > 0);
  browser.fire("online");
  await browser.settle();
  assert.equal(browser.requests.length, 2);
  assert.equal(browser.sent()[1].event_name, "page_view");
});

test("a 400 is not retried: the events are dropped and a warning quotes the server's reasons", async (t) => {
  const { browser, tracker } = open(t);
  script(browser, [{ status: 400, body: { message: "no valid event", accepted: 0, rejected: [
    { index: 0, reason: "page.url: 'x' is too long (rule: maxLength)" },
    { index: 1, reason: "client_id: '' is too short (rule: minLength)" }] } }]);
  tracker.track("click");
  await tracker.flush();
  await browser.advance(120000);
  assert.equal(browser.requests.length, 1);
  assert.equal(browser.storage.getItem("_cs_q"), "[]");
  const [warning] = browser.warnings;
  assert.match(warning, /400: 2 event\(s\) refused and dropped/);
  assert.match(warning, /no valid event/);
  assert.match(warning, /page_view page\.url: 'x' is too long \(rule: maxLength\)/);
  assert.match(warning, /click client_id: '' is too short/);
});

test("a 413 is not retried either", async (t) => {
  const { browser, tracker } = open(t);
  script(browser, [{ status: 413, body: { message: "body over 1 MiB" } }]);
  await tracker.flush();
  await browser.advance(120000);
  assert.equal(browser.requests.length, 1);
  assert.match(browser.warnings[0], /413.*body over 1 MiB/);
});

test("a 202 with rejected events warns with their reasons and keeps nothing", async (t) => {
  const { browser, tracker } = open(t);
  script(browser, [{ status: 202, body: { accepted: 1, rejected: [{ index: 1, reason: "event_name: no (rule: pattern)" }] } }]);
  tracker.track("click");
  await tracker.flush();
  assert.equal(browser.storage.getItem("_cs_q"), "[]");
  assert.match(browser.warnings[0], /1 event\(s\) rejected: click event_name: no \(rule: pattern\)/);
});

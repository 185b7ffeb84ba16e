// Sessions: renewed after the inactivity timeout (time from Date), is_first_visit on every event
// of a browser's first session, login/logout without a new session.
import assert from "node:assert/strict";
import { test } from "node:test";
import { load, open } from "./helpers";

const MIN = 60000;

test("activity keeps the session; 30 minutes without any starts a new one", async (t) => {
  const { browser, tracker } = open(t, { batchSize: 1 });
  for (let i = 0; i < 6; i++) {          // two and a half hours, never 30 minutes idle
    await browser.advance(29 * MIN + 59000);
    tracker.track("click");
  }
  await browser.advance(30 * MIN + 1);   // just over the timeout
  tracker.track("click");
  await browser.advance(0);
  const sessions = browser.sent().map((e) => e.session_id);
  assert.equal(sessions.length, 8);
  assert.equal(new Set(sessions.slice(0, 7)).size, 1);
  assert.notEqual(sessions[7], sessions[0]);
  assert.equal(new Set(browser.sent().map((e) => e.client_id)).size, 1);
});

test("exactly 30 minutes idle is still the same session", async (t) => {
  const { browser, tracker } = open(t, { batchSize: 1 });
  await browser.advance(30 * MIN);
  tracker.track("click");
  await browser.advance(0);
  const [a, b] = browser.sent();
  assert.equal(a.session_id, b.session_id);
});

test("sessionTimeoutMinutes sets the timeout", async (t) => {
  const { browser, tracker } = open(t, { batchSize: 1, sessionTimeoutMinutes: 5 });
  await browser.advance(5 * MIN + 1);
  tracker.track("click");
  await browser.advance(0);
  const [a, b] = browser.sent();
  assert.notEqual(a.session_id, b.session_id);
});

test("is_first_visit: true on every event of the first session only", async (t) => {
  const { browser, tracker } = open(t, { batchSize: 1 });
  tracker.track("click");
  await browser.advance(10 * MIN);
  load(browser, { batchSize: 1 }, "/category/laptops");  // another page of the same visit
  await browser.advance(31 * MIN);
  load(browser, { batchSize: 1 }, "/");                  // a later visit
  await browser.advance(0);
  assert.deepEqual(browser.sent().map((e) => e.is_first_visit), [true, true, true, false]);
  assert.equal(new Set(browser.sent().map((e) => e.session_id)).size, 2);
});

test("a reload keeps the client and the session", async (t) => {
  const { browser, tracker } = open(t);
  await tracker.flush();
  await browser.advance(MIN);
  await load(browser).flush();
  const [a, b] = browser.sent();
  assert.equal(b.client_id, a.client_id);
  assert.equal(b.session_id, a.session_id);
});

test("two tabs share the session", async (t) => {
  const { browser, tracker } = open(t);
  const other = load(browser); // a second page in the same browser storage
  tracker.track("click");
  await tracker.flush();
  await other.flush();
  assert.equal(new Set(browser.sent().map((e) => e.session_id)).size, 1);
});

test("login: the login event and every later one are logged_in with the user id; logout returns to guest", async (t) => {
  const { browser, tracker } = open(t, { batchSize: 100 });
  tracker.login("sub-123");
  tracker.track("click");
  tracker.logout();
  tracker.track("click");
  await tracker.flush();
  const fields = browser.sent().map((e) => [e.event_name, e.user_login_state, e.user_id, e.identity_source]);
  assert.deepEqual(fields, [
    ["page_view", "guest", null, "anonymous"],
    ["login", "logged_in", "sub-123", "cognito"],
    ["click", "logged_in", "sub-123", "cognito"],
    ["click", "guest", null, "anonymous"],
  ]);
  assert.equal(new Set(browser.sent().map((e) => e.session_id)).size, 1, "neither starts a new session");
});

test("login is remembered across pages; identitySource names another provider", async (t) => {
  const { browser, tracker } = open(t, { identitySource: "google" });
  tracker.login("sub-9");
  await tracker.flush();
  await load(browser, { identitySource: "google" }, "/cart").flush();
  const last = browser.sent().at(-1)!;
  assert.deepEqual([last.event_name, last.user_id, last.identity_source], ["page_view", "sub-9", "google"]);
});

test("login with no user id is refused with a warning", async (t) => {
  const { browser, tracker } = open(t);
  tracker.login("");
  await tracker.flush();
  assert.deepEqual(browser.sent().map((e) => e.event_name), ["page_view"]);
  assert.match(browser.warnings[0], /login: userId/);
});

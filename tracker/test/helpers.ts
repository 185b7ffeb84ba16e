// Shared by the unit tests: a tracker on a fake page, page loads, and the contract's shape.
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { readFileSync } from "node:fs";
import type { TestContext } from "node:test";
import type { InitOptions } from "../src/index";
import { createTracker } from "../src/tracker";
import { FakeBrowser } from "./fake-browser";

export const ENDPOINT = "https://ingest.example/clickstream";
export type Tracker = ReturnType<typeof createTracker>;

/** A fake browser on `url` with a tracker initialised on it; uninstalled when the test ends. */
export function open(t: TestContext, options: Partial<InitOptions> = {}, url?: string,
  before?: (browser: FakeBrowser) => void) {
  const browser = new FakeBrowser(url).install();
  t.after(() => browser.uninstall());
  before?.(browser);
  const tracker = load(browser, options);
  return { browser, tracker };
}

/** A new page load in the same browser (same cookies and storage): the old page's listeners
 *  and timers are gone, as after a navigation. */
export function load(browser: FakeBrowser, options: Partial<InitOptions> = {}, url?: string): Tracker {
  browser.newPage(url);
  const tracker = createTracker();
  tracker.init({ endpoint: ENDPOINT, ...options });
  return tracker;
}

// The project's JSON Schema, read where the ingest function reads it.
const schema = JSON.parse(readFileSync(new URL("../functions/schemas/clickstream-event.v1.json",
  `file://${process.cwd()}/`), "utf8"));

/** The checks of the schema a tracker's event can get wrong: no unknown field anywhere, the
 *  required ones present, the patterns of id, name and timestamp. */
export function assertContract(e: Record<string, any>) {
  const p = schema.properties;
  for (const k of Object.keys(e)) assert.ok(k in p, `unknown top-level field ${k}`);
  for (const k of schema.required) assert.ok(e[k] !== undefined && e[k] !== "", `missing ${k}`);
  assert.match(e.event_id, new RegExp(p.event_id.pattern));
  assert.match(e.event_name, new RegExp(p.event_name.pattern));
  assert.match(e.event_timestamp, new RegExp(p.event_timestamp.anyOf[0].pattern));
  assert.ok(["guest", "logged_in"].includes(e.user_login_state));
  assert.equal(typeof e.is_first_visit, "boolean");
  for (const k of Object.keys(e.page || {})) assert.ok(k in p.page.properties, `unknown page field ${k}`);
  const context = e.context || {};
  for (const k of Object.keys(context)) assert.ok(k in p.context.properties, `unknown context field ${k}`);
  for (const k of Object.keys(context.product || {})) assert.ok(k in schema.$defs.product.properties, k);
  for (const k of Object.keys(context.order || {})) assert.ok(k in schema.$defs.order.properties, k);
  for (const item of context.order?.items || []) {
    for (const k of Object.keys(item)) assert.ok(k in schema.$defs.order.properties.items.items.properties, k);
  }
}

export const PRODUCT = {
  id: "LAP-003", name: "Dell XPS 13 9315 i5 8GB 512GB", category: "Laptops", brand: "Dell",
  price: 999, discountPrice: 899, urlPath: "/products/dell-xps-13-9315-i5-8gb-512gb",
};

/** `n` events as an earlier page left them in the queue (for backlogs too slow to build one by one). */
export function backlog(n: number, properties: (i: number) => Record<string, unknown>) {
  return Array.from({ length: n }, (_, i) => ({
    event_id: webcrypto.randomUUID(), event_timestamp: "2026-11-21T12:00:00.000+00:00", event_name: "note",
    user_id: null, user_login_state: "guest", identity_source: "anonymous", client_id: "c", session_id: "s",
    is_first_visit: false, properties: properties(i),
  }));
}

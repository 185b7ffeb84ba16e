// The built files: the size budget, the same API on window.clickstream and as the module's
// named exports, and the declarations for it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { runInNewContext, runInThisContext } from "node:vm";
import { gzipSync } from "node:zlib";
import { FakeBrowser } from "./fake-browser";
import { ENDPOINT } from "./helpers";

const dist = (name: string) => `${process.cwd()}/dist/${name}`;
const API = ["addToCart", "beginCheckout", "flush", "init", "login", "logout", "page", "productView", "purchase",
  "removeFromCart", "setConsent", "track"];
const BUDGET = 5 * 1024;

test(`clickstream.min.js is at most ${BUDGET} bytes after gzip -9`, () => {
  const size = gzipSync(readFileSync(dist("clickstream.min.js")), { level: 9 }).length;
  assert.ok(size <= BUDGET, `${size} bytes`);
});

test("the classic script defines window.clickstream with the API, and the module exports the same", async () => {
  const context: Record<string, any> = {};
  runInNewContext(readFileSync(dist("clickstream.min.js"), "utf8"), context);
  assert.deepEqual(Object.keys(context.clickstream).sort(), API);
  const module = await import(pathToFileURL(dist("clickstream.mjs")).href);
  assert.deepEqual(Object.keys(module).sort(), API);
  for (const name of API) assert.equal(typeof module[name], "function", name);
});

test("clickstream.d.ts declares each function and the global for script tags", () => {
  const types = readFileSync(dist("clickstream.d.ts"), "utf8");
  for (const name of API) assert.match(types, new RegExp(`export declare const ${name}: `));
  for (const name of ["InitOptions", "Product", "Order", "Cart", "LineItem"]) assert.match(types, new RegExp(`export interface ${name} `));
  assert.match(types, /export type Consent = "granted" \| "denied" \| "pending";/);
  assert.match(types, /^export as namespace clickstream;$/m);
});

test("the built script tracks on a page", async (t) => {
  const browser = new FakeBrowser("https://shop.example/?utm_source=x").install();
  t.after(() => browser.uninstall());
  runInThisContext(readFileSync(dist("clickstream.min.js"), "utf8"));
  const api = (globalThis as any).clickstream;
  api.init({ endpoint: ENDPOINT });
  api.addToCart({ id: "LAP-003", name: "Dell XPS 13", category: "Laptops", brand: "Dell", price: 999 }, 2);
  await api.flush();
  assert.deepEqual(browser.sent().map((e) => [e.event_name, e.page.url]),
    [["page_view", "https://shop.example/?utm_source=x"], ["add_to_cart", "https://shop.example/?utm_source=x"]]);
});

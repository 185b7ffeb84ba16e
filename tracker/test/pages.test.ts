// Page views: on load and on single-page navigation, with page fields, the referrer chain and
// the landing URL's campaign parameters.
import assert from "node:assert/strict";
import { test } from "node:test";
import { open } from "./helpers";

const LANDING = "https://shop.example/category/laptops?utm_source=newsletter&utm_medium=email&utm_campaign=nov";
const SEARCH = "https://search.example/?q=laptops";
const fromSearch = (b: { referrer: string; title: string }) => {
  b.referrer = SEARCH;
  b.title = "Laptops";
};

test("the landing page view keeps the campaign parameters, with the page's fields", async (t) => {
  const { browser, tracker } = open(t, {}, LANDING, fromSearch);
  await tracker.flush();
  assert.deepEqual(browser.sent()[0].page,
    { url: LANDING, path: "/category/laptops", title: "Laptops", referrer: SEARCH });
});

test("pushState, replaceState and popstate are page views; the previous page is the referrer", async (t) => {
  const { browser, tracker } = open(t, {}, LANDING, fromSearch);
  browser.title = "Dell XPS 13";
  history.pushState({}, "", "/products/dell-xps-13");
  await browser.advance(0);
  tracker.productView({ id: "LAP-003", name: "Dell XPS 13", category: "Laptops", brand: "Dell", price: 999 });
  browser.title = "Search";
  history.replaceState({}, "", "/search?q=ssd");
  await browser.advance(0);
  browser.back();
  await browser.advance(0);
  await tracker.flush();
  const pages = browser.sent().map((e) => [e.event_name, e.page.path, e.page.referrer]);
  assert.deepEqual(pages, [
    ["page_view", "/category/laptops", SEARCH],
    ["page_view", "/products/dell-xps-13", LANDING],
    ["product_view", "/products/dell-xps-13", LANDING],
    ["page_view", "/search", "https://shop.example/products/dell-xps-13"],
    ["page_view", "/category/laptops", "https://shop.example/search?q=ssd"],
  ]);
  assert.equal(browser.sent()[1].page.title, "Dell XPS 13", "the title the new page set");
});

test("no page view when only the hash changes or the URL stays the same", async (t) => {
  const { browser, tracker } = open(t, {}, LANDING);
  history.replaceState({ scroll: 1 }, "", LANDING);
  history.pushState({}, "", "#reviews");
  await browser.advance(0);
  await tracker.flush();
  assert.equal(browser.sent().length, 1);
});

test("autoPageViews: false leaves page views to page()", async (t) => {
  const { browser, tracker } = open(t, { autoPageViews: false }, LANDING);
  history.pushState({}, "", "/cart");
  await browser.advance(0);
  tracker.page({ step: "cart" });
  await tracker.flush();
  const sent = browser.sent();
  assert.deepEqual(sent.map((e) => [e.event_name, e.page.path, e.properties]), [["page_view", "/cart", { step: "cart" }]]);
});

test("page fields are cut to the schema's lengths", async (t) => {
  const long = `https://shop.example/search?q=${"a".repeat(3000)}`;
  const { browser, tracker } = open(t, {}, long, (b) => (b.title = "t".repeat(600)));
  await tracker.flush();
  const { page } = browser.sent()[0];
  assert.deepEqual([page.url.length, page.title.length], [2048, 512]);
});

// The tracker: identity, session, the persistent queue, delivery and consent. One instance per
// page (src/index.ts); the unit tests make their own instances against a fake browser.
import type { Cart, Consent, InitOptions, LineItem, Order, Product, Properties } from "./index";
import { backoff, bytes, envelope, retryAfter, split, timestamp, uuid } from "./util";

/** One event as the contract defines it (the tracker only ever builds valid shapes). */
export type TrackedEvent = { event_id: string; event_name: string; properties?: Properties; [field: string]: unknown };

/** What localStorage[STATE_KEY] holds: client id and its expiry, session id and last activity,
 *  whether the session is the browser's first, and the signed-in user. */
interface State { c?: string; e?: number; s?: string; t?: number; f?: boolean; u?: string | null }

export const STATE_KEY = "_cs";
export const QUEUE_KEY = "_cs_q";
export const COOKIE = "_cs_cid";
/** About 13 months; both the cookie and the stored id are renewed on every page. */
export const ID_LIFETIME_MS = 396 * 864e5;
/** The contract's caps: events per request, bytes per request, bytes per event. */
export const MAX_BATCH = 500;
export const MAX_BODY = 1048576;
export const MAX_EVENT = 32768;
/** Browsers cap the bytes of pending beacons and keepalive fetches at 64 KiB; keep under it. */
export const BEACON_MAX = 65000;
const NAME = /^[a-z][a-z0-9_]{0,63}$/;
const LIMIT = { url: 2048, path: 2048, title: 512, referrer: 2048 };

interface Config {
  endpoint: string; batch: number; interval: number; timeout: number; max: number;
  domain?: string; source: string;
}

type Timer = ReturnType<typeof setTimeout> | 0;

export function createTracker() {
  let cfg: Config | undefined;
  let consent: Consent | undefined;
  let blocked = false;            // Do Not Track / Global Privacy Control
  let ls: Storage | null = null;  // localStorage, if it works; else `mem` for this page only
  let mem: Record<string, string> = {};
  let cookieSet = false;
  let user: string | null | undefined; // undefined: not known yet on this page
  let held: TrackedEvent[] = [];  // made while consent is pending
  let url = "";
  let ref = "";
  let timer: Timer = 0;
  let retryTimer: Timer = 0;
  let retryAt = 0;
  let attempt = 0;
  let sending: Promise<void> | undefined;
  const inflight = new Set<string>();
  const beaconed = new Set<string>();

  const warn = (...what: unknown[]) => console.warn("clickstream:", ...what);
  const live = () => !!cfg && !blocked && consent == "granted";

  // --- storage -----------------------------------------------------------------------------
  function probe(): Storage | null {
    try {
      const s = localStorage;
      s.setItem("_cs_t", "1");
      s.removeItem("_cs_t");
      return s;
    } catch {
      return null; // disabled, or a private mode without storage
    }
  }
  // The last text read or written per key and its value: a long queue is parsed once, not per event.
  // Values read are shared with this cache: callers copy arrays before changing them. A written
  // value is cached as parsed from its text, so a caller changing an object it passed to track()
  // afterwards changes no queued event.
  const seen = new Map<string, [string | null, any]>();
  function get(key: string): any {
    try {
      const text = ls ? ls.getItem(key) : mem[key];
      const last = seen.get(key);
      if (last && last[0] === text) return last[1];
      const value = JSON.parse(text || "null");
      seen.set(key, [text, value]);
      return value;
    } catch {
      return null;
    }
  }
  function put(key: string, value: unknown): boolean {
    const text = JSON.stringify(value);
    try {
      if (ls) ls.setItem(key, text);
      else mem[key] = text;
      seen.set(key, [text, JSON.parse(text)]);
      return true;
    } catch {
      return false; // quota
    }
  }
  const queue = (): TrackedEvent[] => get(QUEUE_KEY) || [];
  function remove(ids: string[]) {
    const gone = new Set(ids);
    put(QUEUE_KEY, queue().filter((e) => !gone.has(e.event_id)));
  }
  function writeCookie(value: string, maxAgeS: number) {
    document.cookie = `${COOKIE}=${value}; Max-Age=${maxAgeS}; Path=/; SameSite=Lax` +
      (cfg!.domain ? `; Domain=${cfg!.domain}` : "") + (location.protocol == "https:" ? "; Secure" : "");
  }
  function clear() {
    held = [];
    user = undefined;
    try {
      localStorage.removeItem(STATE_KEY);
      localStorage.removeItem(QUEUE_KEY);
    } catch {
      // nothing stored there
    }
    mem = {};
    seen.clear();
    writeCookie("", 0);
    cookieSet = false;
    clearTimeout(timer);
    clearTimeout(retryTimer);
    timer = retryTimer = retryAt = attempt = 0;
  }

  // --- identity ----------------------------------------------------------------------------
  /** Loads (or makes) the client and session ids, marks activity at `now` and stores them. */
  function identity(now: number): State {
    const st: State = { ...get(STATE_KEY) };
    const m = document.cookie.match(/(?:^|;\s*)_cs_cid=([\w-]{1,128})(?:;|$)/);
    const fromCookie = m ? m[1] : "";
    let c = fromCookie || (st.c && st.e! > now ? st.c : "");
    const fresh = !c;
    if (fresh) c = uuid();
    if (fresh || st.c != c || !st.s || now - st.t! > cfg!.timeout) {
      st.s = uuid();
      st.f = fresh;
    }
    st.c = c;
    st.e = now + ID_LIFETIME_MS;
    st.t = now;
    if (user !== undefined) st.u = user;
    put(STATE_KEY, st);
    if (!cookieSet || fromCookie != c) {
      writeCookie(c, ID_LIFETIME_MS / 1000);
      cookieSet = true;
    }
    return st;
  }
  function stamp(e: TrackedEvent, now: number) {
    const st = identity(now);
    e.client_id = st.c;
    e.session_id = st.s;
    e.is_first_visit = !!st.f;
  }
  /** Starts storing: the storage to use and the signed-in user it remembers. */
  function open() {
    ls = probe();
    if (user === undefined) user = get(STATE_KEY)?.u;
  }

  // --- events ------------------------------------------------------------------------------
  function pageFields() {
    const p: Record<string, string> = { url: location.href, path: location.pathname, title: document.title, referrer: ref };
    for (const k in LIMIT) p[k] = p[k].slice(0, LIMIT[k as keyof typeof LIMIT]);
    return p;
  }
  function emit(name: string, extra?: { context?: object; properties?: Properties }) {
    if (!cfg || blocked || consent == "denied") return;
    const now = Date.now();
    const e: TrackedEvent = {
      event_id: uuid(),
      event_timestamp: timestamp(now),
      event_name: name,
      user_id: user || null,
      user_login_state: user ? "logged_in" : "guest",
      identity_source: user ? cfg.source : "anonymous",
      client_id: "",
      session_id: "",
      is_first_visit: false,
      page: pageFields(),
      ...extra,
    };
    if (bytes(JSON.stringify(e)) > MAX_EVENT) return warn(`${name}: over 32 KiB, not sent`);
    if (consent == "pending") held.push(e);
    else {
      stamp(e, now);
      enqueue([e]);
    }
  }
  /** Appends to the stored queue; beyond its bound (or the storage quota) the oldest events go,
   *  and the newest event counts them in properties.queue_dropped (with any count a dropped event
   *  carried), so the warehouse can tell how many were lost. */
  function enqueue(events: TrackedEvent[]) {
    const q = queue().concat(events);
    const last = q[q.length - 1];
    let dropped = 0;
    const dropOldest = () => (dropped += 1 + (Number(q.shift()!.properties?.queue_dropped) || 0));
    while (q.length > cfg!.max) dropOldest();
    while (!put(QUEUE_KEY, q) && q.length > 1) dropOldest();
    if (dropped) {
      last.properties = { ...last.properties, queue_dropped: dropped + (Number(last.properties?.queue_dropped) || 0) };
      put(QUEUE_KEY, q);
    }
    schedule();
  }
  function schedule() {
    const waiting = queue().length - inflight.size;
    if (waiting >= cfg!.batch) void send();
    else if (waiting > 0 && !timer) timer = setTimeout(send, cfg!.interval);
  }

  // --- delivery ----------------------------------------------------------------------------
  function send(): Promise<void> {
    clearTimeout(timer);
    timer = 0;
    if (sending) return sending.then(send);
    return (sending = drain().finally(() => (sending = undefined)));
  }
  async function drain() {
    while (live() && Date.now() >= retryAt) {
      const q = queue().filter((e) => !inflight.has(e.event_id));
      if (!q.length) return;
      const [part] = split(q.map((e) => JSON.stringify(e)), MAX_BATCH, MAX_BODY);
      if (!(await post(q.slice(0, part.length), envelope(part)))) return;
    }
  }
  /** One request; true when the events are done with (accepted, or refused for good). */
  async function post(events: TrackedEvent[], body: string): Promise<boolean> {
    const ids = events.map((e) => e.event_id);
    ids.forEach((id) => inflight.add(id));
    let status = 0;
    let wait = 0;
    let answer: any = {};
    try {
      // A string body is text/plain: a simple request, no CORS preflight.
      const r = await fetch(cfg!.endpoint, { method: "POST", body, keepalive: bytes(body) <= BEACON_MAX });
      status = r.status;
      wait = retryAfter(r.headers.get("retry-after"), Date.now());
      answer = await r.json().catch(() => ({}));
    } catch {
      // a network error (offline, refused, CORS): status stays 0 and the events are retried
    }
    ids.forEach((id) => inflight.delete(id));
    if (!live()) return false; // consent withdrawn meanwhile: store nothing more
    if (status && status < 500 && status != 429) {
      remove(ids);
      attempt = 0;
      const reasons = [answer.message, ...(answer.rejected || []).map(
        (r: { index: number; reason: string }) => `${events[r.index]?.event_name} ${r.reason}`)].filter(Boolean);
      if (status > 299) warn(`${status}: ${events.length} event(s) refused and dropped:`, ...reasons);
      else if (answer.rejected?.length) warn(`${answer.rejected.length} event(s) rejected:`, ...reasons);
      return true;
    }
    const delay = backoff(attempt++, Math.random(), wait);
    retryAt = Date.now() + delay;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(send, delay);
    return false;
  }
  /** The page is hidden or left: everything queued goes out as beacons now. */
  function leave() {
    if (!live() || navigator.onLine === false) return; // offline: it stays queued for the next page
    const q = queue().filter((e) => !inflight.has(e.event_id) && !beaconed.has(e.event_id));
    const done: string[] = [];
    for (const part of split(q.map((e) => JSON.stringify(e)), MAX_BATCH, BEACON_MAX)) {
      const events = q.splice(0, part.length);
      const body = envelope(part);
      let queued = false;
      try {
        queued = navigator.sendBeacon(cfg!.endpoint, body); // a string: text/plain
      } catch {
        // no sendBeacon
      }
      if (queued) {
        for (const e of events) {
          done.push(e.event_id);
          beaconed.add(e.event_id);
        }
      } else void post(events, body); // fetch with keepalive; kept queued until it answers
    }
    // A beacon cannot confirm receipt: during an outage its events stay queued, to be sent again.
    if (Date.now() >= retryAt) remove(done);
  }

  // --- pages -------------------------------------------------------------------------------
  function page(properties?: Properties) {
    if (url) ref = url;
    url = location.href;
    emit("page_view", properties && { properties });
  }
  function navigated() {
    // After the router has set the new title.
    setTimeout(() => location.href.split("#")[0] != url.split("#")[0] && page());
  }

  // --- API ---------------------------------------------------------------------------------
  function init(o: InitOptions) {
    if (cfg) return warn("init: called again, ignored");
    if (!o || typeof o.endpoint != "string" || !o.endpoint) {
      throw new TypeError("clickstream.init: endpoint (the ingest URL) is required");
    }
    const num = (name: keyof InitOptions, fallback: number, min: number, max: number) => {
      const v = o[name] ?? fallback;
      if (typeof v != "number" || !(v >= min && v <= max)) {
        throw new RangeError(`clickstream.init: ${name} must be a number from ${min} to ${max}, not ${v}`);
      }
      return v;
    };
    cfg = {
      endpoint: o.endpoint,
      batch: num("batchSize", 10, 1, MAX_BATCH),
      interval: num("flushIntervalMs", 5000, 0, 864e5),
      timeout: num("sessionTimeoutMinutes", 30, 1, 1440) * 6e4,
      max: num("maxQueuedEvents", 1000, 1, 1e5),
      domain: o.cookieDomain,
      source: o.identitySource || "cognito",
    };
    const nav = navigator as Navigator & { globalPrivacyControl?: boolean };
    blocked = o.respectDoNotTrack !== false &&
      (nav.doNotTrack == "1" || (window as { doNotTrack?: string }).doNotTrack == "1" || nav.globalPrivacyControl === true);
    const chosen = o.consent || consent || "granted";
    consent = undefined;
    setConsent(chosen);
    if (blocked) clear();
    ref = document.referrer;
    addEventListener("pagehide", () => {
      held = [];
      leave();
    });
    document.addEventListener("visibilitychange", () => document.visibilityState == "hidden" && leave());
    addEventListener("online", () => {
      clearTimeout(retryTimer);
      retryAt = attempt = 0;
      void send();
    });
    if (live()) schedule(); // what an earlier page left queued
    if (o.autoPageViews !== false) {
      for (const k of ["pushState", "replaceState"] as const) {
        const original = history[k];
        history[k] = function (this: History, ...args: Parameters<History["pushState"]>) {
          original.apply(this, args);
          navigated();
        };
      }
      addEventListener("popstate", navigated);
      page();
    }
  }

  function setConsent(c: Consent) {
    if (c != "granted" && c != "denied" && c != "pending") {
      throw new TypeError(`clickstream.setConsent: "granted", "denied" or "pending", not ${JSON.stringify(c)}`);
    }
    const was = consent;
    consent = c;
    if (!cfg || blocked || was == c) return;
    if (c == "denied") clear();
    if (c == "granted") {
      open();
      const now = Date.now();
      held.forEach((e) => stamp(e, now));
      if (held.length) enqueue(held.splice(0));
    }
  }

  const product = (p: Product) => ({
    id: p.id, name: p.name, category: p.category, brand: p.brand,
    price: p.price, discount_price: p.discountPrice, url_path: p.urlPath,
  });
  const lines = (items?: LineItem[]) =>
    items && items.map((i) => ({ product_id: i.productId, quantity: i.quantity, price: i.price }));
  function withProduct(name: string, p: Product, properties?: Properties) {
    if (!p || !p.id) return warn(`${name}: product.id is required`);
    emit(name, { context: { product: product(p) }, properties });
  }

  return {
    init,
    page,
    track(name: string, properties?: Properties) {
      if (!NAME.test(name)) return warn(`track: ${JSON.stringify(name)} must match ${NAME.source}`);
      emit(name, properties && { properties });
    },
    productView: (p: Product) => withProduct("product_view", p),
    addToCart: (p: Product, quantity = 1) => withProduct("add_to_cart", p, { quantity }),
    removeFromCart: (p: Product, quantity = 1) => withProduct("remove_from_cart", p, { quantity }),
    beginCheckout(cart?: Cart) {
      emit("begin_checkout", cart && { properties: { value: cart.value, currency: cart.currency, items: lines(cart.items) } });
    },
    purchase(o: Order) {
      if (!o || !o.orderId) return warn("purchase: order.orderId is required");
      emit("purchase", {
        context: { order: { order_id: o.orderId, revenue: o.revenue, currency: o.currency, items: lines(o.items) } },
      });
    },
    login(userId: string) {
      if (typeof userId != "string" || !userId || userId.length > 128) {
        return warn("login: userId must be a string of 1 to 128 characters");
      }
      user = userId;
      emit("login");
    },
    logout() {
      user = null;
      if (live()) identity(Date.now());
    },
    setConsent,
    flush: () => (cfg ? send() : Promise.resolve()),
  };
}

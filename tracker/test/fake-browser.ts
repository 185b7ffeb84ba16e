// A small fake of the browser APIs the tracker uses, installed on globalThis: a controlled clock
// (Date.now and setTimeout), localStorage with a quota, document.cookie with Max-Age, location and
// history, navigator.sendBeacon, fetch with scripted answers, and console.warn captured.
// The tracker reads these globals when it runs, so a test sees exactly what a page would send.

import { webcrypto } from "node:crypto";

type Listener = (event: { type: string }) => void;

export interface SentRequest {
  via: "fetch" | "beacon";
  url: string;
  body: string;
  keepalive: boolean;
  at: number;
  events: Record<string, any>[];
}

export interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** fetch's answer to one request: an Answer, or "network" for a network error. */
export type Responder = (request: SentRequest) => Answer | "network";

const realSetImmediate = setImmediate;
const realDateNow = Date.now;
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realWarn = console.warn;
const GLOBALS = ["window", "document", "location", "history", "navigator", "localStorage", "fetch", "crypto",
  "addEventListener", "removeEventListener"] as const;

export class FakeStorage {
  items = new Map<string, string>();
  quota = Infinity; // bytes of keys and values together
  disabled = false;
  private check() {
    if (this.disabled) throw new Error("SecurityError: storage is disabled");
  }
  get length() {
    this.check();
    return this.items.size;
  }
  key(i: number) {
    return [...this.items.keys()][i] ?? null;
  }
  getItem(k: string) {
    this.check();
    return this.items.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.check();
    let used = 0;
    for (const [key, value] of this.items) if (key != k) used += key.length + value.length;
    if (used + k.length + String(v).length > this.quota) throw new Error("QuotaExceededError");
    this.items.set(k, String(v));
  }
  removeItem(k: string) {
    this.check();
    this.items.delete(k);
  }
  clear() {
    this.items.clear();
  }
}

export class FakeBrowser {
  now: number;
  private timers: { id: number; at: number; fn: () => void }[] = [];
  private nextTimer = 1;
  private listeners = new Map<string, Listener[]>();
  private docListeners = new Map<string, Listener[]>();
  private saved = new Map<string, PropertyDescriptor | undefined>();
  private cookies = new Map<string, { value: string; expires: number; attributes: string }>();
  private stack: string[];
  href: string;
  title = "Home";
  referrer = "";
  visibilityState: "visible" | "hidden" = "visible";
  storage = new FakeStorage();
  onLine = true;
  doNotTrack: string | null = null;
  globalPrivacyControl: boolean | undefined = undefined;
  beaconAccepts: (body: string) => boolean = (body) => new TextEncoder().encode(body).length <= 65536;
  respond: Responder = (r) => ({ status: 202, body: { accepted: r.events.length, rejected: [] } });
  requests: SentRequest[] = [];
  warnings: string[] = [];
  cookieWrites: string[] = [];

  constructor(url = "https://shop.example/", now = Date.UTC(2026, 10, 21, 12, 0, 0)) {
    this.href = url;
    this.stack = [url];
    this.now = now;
  }

  /** Puts the fake on globalThis (and the controlled clock in Date.now / setTimeout). */
  install(): this {
    const self = this;
    const document = {
      get cookie() {
        return [...self.liveCookies()].map(([k, c]) => `${k}=${c.value}`).join("; ");
      },
      set cookie(text: string) {
        self.cookieWrites.push(text);
        const [pair, ...attrs] = text.split(";").map((s) => s.trim());
        const [name, value] = pair.split("=");
        const maxAge = attrs.find((a) => /^max-age=/i.test(a));
        const expires = maxAge ? self.now + Number(maxAge.split("=")[1]) * 1000 : Infinity;
        if (expires <= self.now) self.cookies.delete(name);
        else self.cookies.set(name, { value, expires, attributes: attrs.join("; ") });
      },
      get title() {
        return self.title;
      },
      get referrer() {
        return self.referrer;
      },
      get visibilityState() {
        return self.visibilityState;
      },
      addEventListener: (type: string, fn: Listener) => self.add(self.docListeners, type, fn),
    };
    const history = {
      pushState(_state: unknown, _title: string, url: string) {
        self.href = new URL(url, self.href).href;
        self.stack.push(self.href);
      },
      replaceState(_state: unknown, _title: string, url: string) {
        self.href = new URL(url, self.href).href;
        self.stack[self.stack.length - 1] = self.href;
      },
    };
    const navigator = {
      get onLine() {
        return self.onLine;
      },
      get doNotTrack() {
        return self.doNotTrack;
      },
      get globalPrivacyControl() {
        return self.globalPrivacyControl;
      },
      sendBeacon(url: string, data: string) {
        if (typeof data != "string") throw new Error("the fake expects a string beacon body");
        if (!self.beaconAccepts(data)) return false;
        self.record("beacon", url, data, true);
        return true;
      },
    };
    const fetch = async (url: string, init: { method: string; body: string; keepalive?: boolean }) => {
      if (init.method != "POST" || typeof init.body != "string") throw new Error("the fake expects a POST of a string");
      const request = self.record("fetch", url, init.body, !!init.keepalive);
      const answer = self.respond(request);
      if (answer == "network") throw new TypeError("Failed to fetch");
      return new Response(answer.body === undefined ? "" : JSON.stringify(answer.body),
        { status: answer.status, headers: answer.headers });
    };
    const values: Record<string, unknown> = {
      window: globalThis, document, history, navigator, fetch, localStorage: this.storage,
      location: undefined, crypto: webcrypto, // a global from Node.js 19 on only
      addEventListener: (type: string, fn: Listener) => self.add(self.listeners, type, fn),
      removeEventListener: () => undefined,
    };
    for (const name of GLOBALS) {
      this.saved.set(name, Object.getOwnPropertyDescriptor(globalThis, name));
      const descriptor: PropertyDescriptor = name == "location"
        ? { get: () => new URL(self.href), configurable: true }
        : { value: values[name], configurable: true, writable: true };
      Object.defineProperty(globalThis, name, descriptor);
    }
    Date.now = () => self.now;
    (globalThis as any).setTimeout = (fn: () => void, ms = 0) => {
      const id = this.nextTimer++;
      this.timers.push({ id, at: this.now + Math.max(0, ms), fn });
      return id;
    };
    (globalThis as any).clearTimeout = (id: number) => {
      this.timers = this.timers.filter((t) => t.id != id);
    };
    console.warn = (...args: unknown[]) => this.warnings.push(args.map(String).join(" "));
    return this;
  }

  uninstall() {
    for (const [name, descriptor] of this.saved) {
      if (descriptor) Object.defineProperty(globalThis, name, descriptor);
      else delete (globalThis as any)[name];
    }
    Date.now = realDateNow;
    globalThis.setTimeout = realSetTimeout;
    globalThis.clearTimeout = realClearTimeout;
    console.warn = realWarn;
  }

  /** Lets pending promises (fetch answers) settle without moving the clock. */
  async settle() {
    for (let i = 0; i < 20; i++) await new Promise((r) => realSetImmediate(r));
  }

  /** Moves the clock forward, running each timer that falls due, in order. */
  async advance(ms: number) {
    const end = this.now + ms;
    await this.settle();
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.now = Math.max(this.now, due.at);
      due.fn();
      await this.settle();
    }
    this.now = end;
  }

  /** When the next timer falls due (ms from now), or undefined. */
  nextTimerIn(): number | undefined {
    const at = Math.min(...this.timers.map((t) => t.at));
    return Number.isFinite(at) ? at - this.now : undefined;
  }

  /** A page load: the last page's listeners and timers are gone; `url` (if given) is the new
   *  location, with the old one as its referrer. Cookies and storage stay. */
  newPage(url?: string) {
    this.listeners.clear();
    this.docListeners.clear();
    this.timers = [];
    this.visibilityState = "visible";
    if (url) {
      this.referrer = this.href;
      this.href = new URL(url, this.href).href;
      this.stack = [this.href];
    }
  }

  /** The page is left: visibilitychange to hidden, then pagehide, as browsers fire them. */
  leave() {
    this.hide();
    this.fire("pagehide");
  }

  fire(type: string) {
    for (const fn of this.listeners.get(type) || []) fn({ type });
  }

  hide() {
    this.visibilityState = "hidden";
    for (const fn of this.docListeners.get("visibilitychange") || []) fn({ type: "visibilitychange" });
  }

  back() {
    this.stack.pop();
    this.href = this.stack[this.stack.length - 1];
    this.fire("popstate");
  }

  clearCookies() {
    this.cookies.clear();
  }

  cookie(name: string) {
    return this.liveCookies().get(name);
  }

  /** Every event that reached the endpoint, in the order sent. */
  sent(): Record<string, any>[] {
    return this.requests.flatMap((r) => r.events);
  }

  private liveCookies() {
    for (const [k, c] of this.cookies) if (c.expires <= this.now) this.cookies.delete(k);
    return this.cookies;
  }

  private add(map: Map<string, Listener[]>, type: string, fn: Listener) {
    map.set(type, [...(map.get(type) || []), fn]);
  }

  private record(via: "fetch" | "beacon", url: string, body: string, keepalive: boolean): SentRequest {
    const request = { via, url, body, keepalive, at: this.now, events: JSON.parse(body).events };
    this.requests.push(request);
    return request;
  }
}

// The public API: the module's named exports, and window.clickstream in the classic script build.
// Every type the API names is declared here, so the emitted clickstream.d.ts stands alone.
import { createTracker } from "./tracker";

/** "granted": store ids and send; "pending": hold events in memory, store and send nothing;
 *  "denied": clear everything stored, store and send nothing. */
export type Consent = "granted" | "denied" | "pending";

/** Free-form extras: the event's `properties` object (plain JSON values). */
export type Properties = Record<string, unknown>;

export interface InitOptions {
  /** The ingest URL, e.g. https://api.example.com/clickstream */
  endpoint: string;
  /** Send when this many events wait (1-500). Default 10. */
  batchSize?: number;
  /** Send what waits after this long (ms). Default 5000. */
  flushIntervalMs?: number;
  /** A new session after this much inactivity. Default 30. */
  sessionTimeoutMinutes?: number;
  /** The visitor's consent as the site's consent manager knows it on this page. Default "granted". */
  consent?: Consent;
  /** Do Not Track or Global Privacy Control: store and send nothing. Default true. */
  respectDoNotTrack?: boolean;
  /** A page_view on load and on history.pushState/replaceState/popstate. Default true. */
  autoPageViews?: boolean;
  /** Domain attribute of the client id cookie (e.g. "example.com" to share it with subdomains). */
  cookieDomain?: string;
  /** identity_source of signed-in events. Default "cognito". */
  identitySource?: string;
  /** At most this many events wait in localStorage; the oldest go first. Default 1000. */
  maxQueuedEvents?: number;
}

export interface Product {
  id: string;
  name: string;
  category: string;
  brand: string;
  price: number;
  discountPrice?: number;
  urlPath?: string;
}

export interface LineItem {
  productId: string;
  quantity: number;
  price?: number;
}

export interface Order {
  orderId: string;
  revenue: number;
  /** ISO 4217, e.g. "USD". */
  currency: string;
  items: LineItem[];
}

export interface Cart {
  value?: number;
  currency?: string;
  items?: LineItem[];
}

const t = createTracker();

/** Starts tracking; call once per page load. Throws on an invalid option, naming it. */
export const init: (options: InitOptions) => void = t.init;
/** A page_view of the current location (automatic unless autoPageViews is false). */
export const page: (properties?: Properties) => void = t.page;
/** Any event; `name` must match ^[a-z][a-z0-9_]{0,63}$. */
export const track: (name: string, properties?: Properties) => void = t.track;
export const productView: (product: Product) => void = t.productView;
export const addToCart: (product: Product, quantity?: number) => void = t.addToCart;
export const removeFromCart: (product: Product, quantity?: number) => void = t.removeFromCart;
export const beginCheckout: (cart?: Cart) => void = t.beginCheckout;
export const purchase: (order: Order) => void = t.purchase;
/** A login event; later events are logged_in with this user id (the same session goes on). */
export const login: (userId: string) => void = t.login;
/** Later events are guest events again (the same session goes on). */
export const logout: () => void = t.logout;
export const setConsent: (consent: Consent) => void = t.setConsent;
/** Sends what waits now (unless a retry is pending); resolves when the requests have answered. */
export const flush: () => Promise<void> = t.flush;

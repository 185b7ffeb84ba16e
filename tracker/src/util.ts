// Pure helpers: ids, timestamps, backoff and request splitting (no browser state).

/** A random (version 4) UUID: crypto.randomUUID where the page is a secure context, else built
 *  from crypto.getRandomValues, else from Math.random (old or non-browser engines). */
export function uuid(): string {
  const c = globalThis.crypto;
  if (c && c.randomUUID) return c.randomUUID();
  const b = new Uint8Array(16);
  if (c && c.getRandomValues) c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = Math.random() * 256;
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  let h = "";
  for (let i = 0; i < 16; i++) h += (i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "") + (b[i] + 256).toString(16).slice(1);
  return h;
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** RFC 3339 with milliseconds and the browser's own UTC offset, e.g. 2026-11-21T23:05:09.123+08:00. */
export function timestamp(ms: number): string {
  const d = new Date(ms);
  const offset = -d.getTimezoneOffset();
  const abs = Math.abs(offset);
  return `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:` +
    `${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}` +
    `${offset < 0 ? "-" : "+"}${pad((abs / 60) | 0)}:${pad(abs % 60)}`;
}

export const RETRY_BASE_MS = 1000;
export const RETRY_MAX_MS = 60000;
/** A Retry-After beyond this is taken as this (a misconfigured server must not park events for days). */
export const RETRY_AFTER_MAX_MS = 3600000;

/** Delay before retry number `attempt` (0 = the first retry): exponential from 1 s, capped at 60 s,
 *  with "equal jitter" (half fixed, half random, so clients that failed together spread out),
 *  and never sooner than the server's Retry-After. */
export function backoff(attempt: number, random: number, retryAfterMs = 0): number {
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt);
  return Math.max(ceiling / 2 + (random * ceiling) / 2, Math.min(retryAfterMs, RETRY_AFTER_MAX_MS));
}

/** Retry-After (delay-seconds or an HTTP date) in milliseconds from `now`; 0 when absent or unreadable. */
export function retryAfter(value: string | null, now: number): number {
  if (!value) return 0;
  const ms = /^\s*\d+\s*$/.test(value) ? +value * 1000 : Date.parse(value) - now;
  return ms > 0 ? ms : 0;
}

/** UTF-8 length of a string. */
export const bytes = (s: string): number => new TextEncoder().encode(s).length;

/** The body of a batch request, as the contract's envelope. */
export const envelope = (events: string[]): string => `{"events":[${events.join(",")}]}`;

/** Splits serialized events into envelopes of at most `maxEvents` events and `maxBytes` bytes
 *  (an event bigger than `maxBytes` on its own goes alone). Order is kept. */
export function split(events: string[], maxEvents: number, maxBytes: number): string[][] {
  const out: string[][] = [];
  let part: string[] = [];
  let size = 13; // {"events":[]}
  for (const e of events) {
    const n = bytes(e) + 1;
    if (part.length && (part.length >= maxEvents || size + n > maxBytes)) {
      out.push(part);
      part = [];
      size = 13;
    }
    part.push(e);
    size += n;
  }
  if (part.length) out.push(part);
  return out;
}

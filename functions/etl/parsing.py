"""Raw JSON Lines -> validated, normalized warehouse rows (as COPY text) or rejects.

A raw line is the client's event plus ingest's enrichment fields. Each line is split into
those two parts and each part validated against the shared contract (functions.schemas).
Validation takes a fast path first: `fast_event_is_valid` is a hand-written check of contract
v1 that only ever answers "certainly valid"; anything else goes to jsonschema, which decides
and names the reason. The fast path switches itself off when the schema file changes, so it
can never accept what the schema rejects.

Normalization: timestamps to UTC, prices as exact decimals, strings trimmed (empty -> NULL).
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from functions.schemas import (
    ENRICHMENT_FIELDS,
    ENRICHMENT_VALIDATOR,
    EVENT_SCHEMA,
    EVENT_VALIDATOR,
    first_error,
)

MAX_LINE_BYTES = 64 * 1024          # one event is at most 32 KiB; enrichment adds ~1.5 KiB
RAW_LINE_KEEP = 1024                # characters of a rejected line kept in etl_rejects
MAX_REJECTS_RECORDED = 100          # per object (memory: batch files x this x RAW_LINE_KEEP); rest counted
READ_CHUNK = 256 * 1024

#: Columns of the staging table, in COPY order.
COLUMNS = (
    "event_id", "event_timestamp", "event_name", "user_id", "user_login_state", "identity_source",
    "client_id", "session_id", "is_first_visit",
    "context_product_id", "context_product_name", "context_product_category", "context_product_brand",
    "context_product_price", "context_product_discount_price", "context_product_url_path",
    "page_url", "page_path", "page_title", "page_referrer",
    "order_id", "order_revenue", "order_currency", "order_items", "properties",
    "received_at", "ingest_request_id", "source_ip", "user_agent", "is_bot", "source_key",
)



def schema_fingerprint() -> str:
    """sha256 of the schema's canonical JSON (formatting changes keep it, rule changes do not)."""
    return hashlib.sha256(json.dumps(EVENT_SCHEMA, sort_keys=True).encode()).hexdigest()


# The fingerprint of the schema the fast path below was written against (contract v1).
FAST_PATH_SCHEMA_SHA256 = "26e7711dd5f5c0f82d47d8f4e3eb4c55b77ce0115886749922b19678b9f79854"
FAST_PATH_ENABLED = schema_fingerprint() == FAST_PATH_SCHEMA_SHA256

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}").fullmatch
_EVENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}").fullmatch
_CURRENCY = re.compile(r"[A-Z]{3}").fullmatch
_TIMESTAMP = re.compile(
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)"
    r"(\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
).fullmatch
_EVENT_KEYS = frozenset({
    "event_id", "event_timestamp", "event_name", "user_id", "user_login_state", "identity_source",
    "client_id", "session_id", "is_first_visit", "page", "context", "properties",
})
_PAGE_LIMITS = {"url": 2048, "path": 2048, "title": 512, "referrer": 2048}
_PRODUCT_LIMITS = {"id": 128, "name": 512, "category": 128, "brand": 128, "url_path": 2048}
_PRODUCT_EVENTS = frozenset({"product_view", "add_to_cart", "remove_from_cart"})
_EPOCH_MS_MIN, _EPOCH_MS_MAX = 946684800000, 4102444800000


def _is_number(v) -> bool:
    return (type(v) is int or type(v) is float) and v >= 0


def _str_max(v, limit: int) -> bool:
    return type(v) is str and len(v) <= limit


def _fast_product(p) -> bool:
    if type(p) is not dict or "id" not in p:
        return False
    for k, v in p.items():
        limit = _PRODUCT_LIMITS.get(k)
        if limit is not None:
            if not _str_max(v, limit):
                return False
        elif k in ("price", "discount_price"):
            if not _is_number(v):
                return False
        else:
            return False
    return len(p["id"]) >= 1


def _fast_order(o) -> bool:  # noqa: PLR0911 - one check per rule
    if type(o) is not dict or not {"order_id", "revenue", "currency"} <= o.keys():
        return False
    if not o.keys() <= {"order_id", "revenue", "currency", "items"}:
        return False
    oid = o["order_id"]
    if type(oid) is not str or not 1 <= len(oid) <= 128 or not _is_number(o["revenue"]):
        return False
    if type(o["currency"]) is not str or not _CURRENCY(o["currency"]):
        return False
    items = o.get("items", [])
    if type(items) is not list or len(items) > 500:
        return False
    for item in items:
        if type(item) is not dict or not item.keys() <= {"product_id", "quantity", "price"}:
            return False
        pid, qty = item.get("product_id"), item.get("quantity")
        if type(pid) is not str or not 1 <= len(pid) <= 128 or type(qty) is not int or qty < 1:
            return False
        if "price" in item and not _is_number(item["price"]):
            return False
    return True


def fast_event_is_valid(e: dict) -> bool:  # noqa: PLR0911, PLR0912 - one check per rule, flat on purpose
    """True only when `e` certainly satisfies contract v1; False means "ask jsonschema"."""
    if not FAST_PATH_ENABLED or not e.keys() <= _EVENT_KEYS:
        return False
    try:
        eid, ts, name = e["event_id"], e["event_timestamp"], e["event_name"]
        state, cid, sid = e["user_login_state"], e["client_id"], e["session_id"]
    except KeyError:
        return False
    if type(eid) is not str or not _UUID(eid) or type(name) is not str or not _EVENT_NAME(name):
        return False
    if type(ts) is str:
        if len(ts) > 40 or not _TIMESTAMP(ts):
            return False
    elif type(ts) is not int or not _EPOCH_MS_MIN <= ts <= _EPOCH_MS_MAX:
        return False
    if state not in ("guest", "logged_in") or type(state) is not str:
        return False
    if type(cid) is not str or not 1 <= len(cid) <= 128 or type(sid) is not str or not 1 <= len(sid) <= 128:
        return False
    uid = e.get("user_id")
    if uid is not None and not _str_max(uid, 128):
        return False
    ids = e.get("identity_source")
    if ids is not None and not _str_max(ids, 64):
        return False
    if "is_first_visit" in e and type(e["is_first_visit"]) is not bool:
        return False
    if "properties" in e and type(e["properties"]) is not dict:
        return False
    page = e.get("page")
    if page is not None or "page" in e:
        if type(page) is not dict:
            return False
        for k, v in page.items():
            limit = _PAGE_LIMITS.get(k)
            if limit is None or not _str_max(v, limit):
                return False
    context = e.get("context")
    if context is not None or "context" in e:
        if type(context) is not dict or not context.keys() <= {"product", "order"}:
            return False
        if "product" in context and not _fast_product(context["product"]):
            return False
        if "order" in context and not _fast_order(context["order"]):
            return False
    if name in _PRODUCT_EVENTS and (context is None or "product" not in context):
        return False
    return not (name == "purchase" and (context is None or "order" not in context))


def fast_enrichment_is_valid(x: dict) -> bool:
    if not FAST_PATH_ENABLED or not x.keys() <= ENRICHMENT_FIELDS:
        return False
    ra, rid = x.get("received_at"), x.get("ingest_request_id")
    if not _str_max(ra, 40) or not _str_max(rid, 128):
        return False
    ip, ua = x.get("source_ip"), x.get("user_agent")
    if ip is not None and not _str_max(ip, 64):
        return False
    if ua is not None and not _str_max(ua, 1024):
        return False
    return "is_bot" not in x or type(x["is_bot"]) is bool


class RejectedLine(ValueError):
    """A line that cannot become a row; the message is the reason stored in etl_rejects."""


def _no_constants(name: str):
    raise RejectedLine(f"not valid JSON: {name} is not a JSON number")


_DECODE = json.JSONDecoder(parse_constant=_no_constants).decode


def parse_timestamp(value, field_name: str) -> datetime:
    """RFC 3339 (any offset, up to 9 fraction digits, leap second) or epoch ms -> aware UTC datetime."""
    if type(value) is int or type(value) is float:
        return datetime.fromtimestamp(value / 1000, UTC)
    text = value.strip().upper()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        # RFC 3339 allows second 60 (leap second); count it as the next second, as PostgreSQL does.
        if len(text) > 19 and text[17:19] == "60":
            try:
                parsed = datetime.fromisoformat(text[:17] + "59" + text[19:]) + timedelta(seconds=1)
            except ValueError:
                raise RejectedLine(f"{field_name}: not an RFC 3339 timestamp: {value!r}") from None
        else:
            raise RejectedLine(f"{field_name}: not an RFC 3339 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise RejectedLine(f"{field_name}: timestamp without a UTC offset: {value!r}")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise RejectedLine(f"{field_name}: timestamp out of range: {value!r}") from None


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(v) -> str:
    """A trimmed string as a COPY text field; empty -> NULL."""
    if v is None:
        return "\\N"
    v = v.strip()
    if not v:
        return "\\N"
    if "\\" in v or "\t" in v or "\n" in v or "\r" in v:
        return v.translate(_COPY_ESCAPES)
    return v


def _num(v) -> str:
    # repr of a float is the shortest exact round-trip form; PostgreSQL numeric reads it exactly.
    return "\\N" if v is None else repr(v)


def _json(v) -> str:
    if v is None:
        return "\\N"
    return json.dumps(v, ensure_ascii=False, separators=(",", ":")).translate(_COPY_ESCAPES)


def _ts(d: datetime) -> str:
    return d.isoformat()


@dataclass
class Event:
    """The normalized values a test or the sessionizer needs, besides the COPY row."""

    event_id: str
    event_timestamp: datetime
    event_name: str
    session_id: str
    client_id: str


def parse_line(raw: bytes, source_key: str) -> tuple[bytes, Event]:
    """One raw line -> (COPY text row incl. newline, Event); raises RejectedLine with the reason."""
    if b"\\u0000" in raw:
        raise RejectedLine("NUL character (\\u0000) in a string: PostgreSQL text cannot hold it")
    try:
        record = _DECODE(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RejectedLine("not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise RejectedLine(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    if type(record) is not dict:
        raise RejectedLine(f"not a JSON object but a JSON {type(record).__name__}")
    event = {k: v for k, v in record.items() if k not in ENRICHMENT_FIELDS}
    enrichment = {k: v for k, v in record.items() if k in ENRICHMENT_FIELDS}
    if not fast_event_is_valid(event) and (reason := first_error(EVENT_VALIDATOR, event)):
        raise RejectedLine(reason)
    if not fast_enrichment_is_valid(enrichment) and (reason := first_error(ENRICHMENT_VALIDATOR, enrichment)):
        raise RejectedLine(reason)
    return normalize(event, enrichment, source_key)


def normalize(e: dict, x: dict, source_key: str) -> tuple[bytes, Event]:
    """A valid (event, enrichment) pair -> (COPY row, Event)."""
    event_ts = parse_timestamp(e["event_timestamp"], "event_timestamp")
    received = parse_timestamp(x["received_at"], "received_at")
    client_id, session_id = e["client_id"].strip(), e["session_id"].strip()
    if not client_id or not session_id:
        raise RejectedLine("client_id/session_id: blank after trimming whitespace")
    event_id = e["event_id"].strip().lower()
    page = e.get("page") or {}
    context = e.get("context") or {}
    product = context.get("product") or {}
    order = context.get("order")
    fields = [
        event_id, _ts(event_ts), e["event_name"], _text(e.get("user_id")), e["user_login_state"],
        _text(e.get("identity_source")), _text(client_id), _text(session_id),
        "t" if e.get("is_first_visit") else "f",
        _text(product.get("id")), _text(product.get("name")), _text(product.get("category")),
        _text(product.get("brand")), _num(product.get("price")), _num(product.get("discount_price")),
        _text(product.get("url_path")),
        _text(page.get("url")), _text(page.get("path")), _text(page.get("title")),
        _text(page.get("referrer")),
    ]
    if order is None:
        fields += ("\\N", "\\N", "\\N", "\\N")
    else:
        fields += (_text(order["order_id"]), _num(order["revenue"]), order["currency"],
                   _json(order.get("items", [])))
    fields += (
        _json(e.get("properties")), _ts(received), _text(x["ingest_request_id"]),
        _text(x.get("source_ip")), _text(x.get("user_agent")), "t" if x.get("is_bot") else "f",
        _text(source_key),
    )
    try:
        row = ("\t".join(fields) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        raise RejectedLine("invalid Unicode: a lone surrogate escape in a string") from None
    return row, Event(event_id, event_ts, e["event_name"], session_id, client_id)


@dataclass
class Reject:
    line: int | None
    reason: str
    raw_line: str | None


@dataclass
class ObjectParse:
    """What parsing one raw object produced, besides its rows."""

    lines: int = 0
    events: int = 0
    rejected: int = 0
    rejects: list[Reject] = field(default_factory=list)

    def reject(self, line: int | None, reason: str, raw: bytes | None) -> None:
        self.rejected += 1
        if len(self.rejects) < MAX_REJECTS_RECORDED:
            text = None
            if raw is not None:
                # PostgreSQL text holds neither NUL nor invalid UTF-8: keep a readable, bounded copy.
                text = raw[: RAW_LINE_KEEP * 4].decode("utf-8", "replace")[:RAW_LINE_KEEP]
                text = text.replace("\x00", "\ufffd")
            self.rejects.append(Reject(line, reason.replace("\x00", "\ufffd")[:1000], text))

    def finish(self) -> None:
        unrecorded = self.rejected - len(self.rejects)
        if unrecorded > 0:
            reason = f"{unrecorded} more rejected lines not recorded one by one"
            self.rejects.append(Reject(None, reason, None))
        if self.events == 0 and self.rejected > 0:
            self.rejects.append(Reject(None, "no valid event in the object: is it JSON Lines?", None))


def iter_raw_lines(chunks: Iterator[bytes], gzipped: bool,
                   result: ObjectParse) -> Iterator[tuple[int, bytes]]:
    """(line number, line bytes) from a stream of chunks; gzip decoded incrementally.

    Over-long lines, a corrupt or truncated gzip stream are recorded in `result` as rejects.
    """
    decoder = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16) if gzipped else None
    pending = b""
    skipping = False     # inside an over-long line, dropping bytes until its end
    lineno = 0

    def split(data: bytes) -> Iterator[tuple[int, bytes]]:
        nonlocal pending, skipping, lineno
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            piece = data[start:nl]
            start = nl + 1
            lineno += 1
            if skipping:
                skipping = False
                continue
            line = pending + piece if pending else piece
            pending = b""
            if len(line) > MAX_LINE_BYTES:
                result.reject(lineno, f"line longer than {MAX_LINE_BYTES} bytes", line)
                continue
            yield lineno, line
        rest = data[start:]
        if skipping:
            return
        pending += rest
        if len(pending) > MAX_LINE_BYTES:
            result.reject(lineno + 1, f"line longer than {MAX_LINE_BYTES} bytes", pending)
            pending, skipping = b"", True

    for chunk in chunks:
        if decoder is None:
            yield from split(chunk)
            continue
        try:
            data = decoder.decompress(chunk)
            while decoder.eof and decoder.unused_data:   # concatenated gzip members
                tail = decoder.unused_data
                decoder = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
                data += decoder.decompress(tail)
        except zlib.error as exc:
            result.reject(lineno + 1, f"corrupt gzip stream: {exc}", pending or None)
            return
        yield from split(data)
    if decoder is not None and not decoder.eof:
        result.reject(lineno + 1, f"truncated gzip stream: it ends after line {lineno}", pending or None)
        return
    if pending and not skipping:
        lineno += 1
        yield lineno, pending


def parse_object(chunks: Iterator[bytes], key: str, gzipped: bool, result: ObjectParse,
                 rows_per_chunk: int = 2000) -> Iterator[bytes]:
    """COPY text for the object's valid lines, `rows_per_chunk` rows at a time; rejects into `result`."""
    buffer: list[bytes] = []
    for lineno, raw in iter_raw_lines(chunks, gzipped, result):
        line = raw.rstrip(b"\r")
        if not line.strip():
            continue
        result.lines += 1
        try:
            row, _ = parse_line(line, key)
        except RejectedLine as exc:
            result.reject(lineno, str(exc), line)
            continue
        result.events += 1
        buffer.append(row)
        if len(buffer) >= rows_per_chunk:
            yield b"".join(buffer)
            buffer = []
    if buffer:
        yield b"".join(buffer)
    result.finish()

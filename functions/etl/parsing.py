"""Raw JSON Lines -> validated, normalized warehouse rows (as COPY text) or rejects.

A raw line is the client's event plus ingest's enrichment fields. Each line is split into
those two parts and each part validated against the shared contract (functions.schemas):
jsonschema-rs answers yes/no, python-jsonschema names the reason of an invalid one.

Normalization: timestamps to UTC, prices as exact decimals, strings trimmed (empty -> NULL).
This runs once per event, so it avoids per-field function calls where it can.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from functions.schemas import (
    ENRICHMENT_FIELDS,
    FAST_ENRICHMENT_VALIDATOR,
    FAST_EVENT_VALIDATOR,
    validate_enrichment,
    validate_event,
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
    """A trimmed string as a COPY text field (escaped); empty -> NULL."""
    if v is None:
        return "\\N"
    v = v.strip()
    if not v:
        return "\\N"
    if "\\" in v or "\t" in v or "\n" in v or "\r" in v:
        return v.translate(_COPY_ESCAPES)
    return v


def _plain(v) -> str:
    """_text for a line without any backslash: no string in it can hold \\, tab, CR or LF
    (JSON must escape them), so only trimming is left."""
    if v is None:
        return "\\N"
    return v.strip() or "\\N"


def _json(v) -> str:
    if v is None:
        return "\\N"
    return json.dumps(v, ensure_ascii=False, separators=(",", ":")).translate(_COPY_ESCAPES)


_EMPTY: dict = {}
_ENRICHMENT_KEYS = tuple(ENRICHMENT_FIELDS)


def parse_line(raw: bytes, source_key: str) -> bytes:
    """One raw line -> its COPY text row (incl. newline); raises RejectedLine with the reason."""
    if b"\\" in raw:
        if b"\\u0000" in raw:
            raise RejectedLine("NUL character (\\u0000) in a string: PostgreSQL text cannot hold it")
        text = _text
    else:
        text = _plain
    try:
        record = _DECODE(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RejectedLine("not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise RejectedLine(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    if type(record) is not dict:
        raise RejectedLine(f"not a JSON object but a JSON {type(record).__name__}")
    pop = record.pop
    enrichment = {k: pop(k) for k in _ENRICHMENT_KEYS if k in record}
    try:
        valid = FAST_EVENT_VALIDATOR.is_valid(record) and FAST_ENRICHMENT_VALIDATOR.is_valid(enrichment)
    except (ValueError, TypeError, OverflowError):   # a value Rust cannot hold: validate_* decide
        valid = False
    if not valid:
        reason = validate_event(record) or validate_enrichment(enrichment)
        if reason:
            raise RejectedLine(reason)
    return normalize(record, enrichment, source_key, text)


def normalize(e: dict, x: dict, source_key: str, text=_text) -> bytes:
    """A valid (event, enrichment) pair -> its COPY row; ``text`` formats a string field."""
    client_id, session_id = e["client_id"].strip(), e["session_id"].strip()
    if not client_id or not session_id:
        raise RejectedLine("client_id/session_id: blank after trimming whitespace")
    page = e.get("page") or _EMPTY
    context = e.get("context")
    if context:
        product = context.get("product") or _EMPTY
        order = context.get("order")
    else:
        product, order = _EMPTY, None
    get = product.get
    # repr of a float is the shortest exact round-trip form; PostgreSQL numeric reads it exactly.
    price, discount = get("price"), get("discount_price")
    fields = [
        e["event_id"].strip().lower(),
        parse_timestamp(e["event_timestamp"], "event_timestamp").isoformat(),
        e["event_name"], text(e.get("user_id")), e["user_login_state"], text(e.get("identity_source")),
        text(client_id), text(session_id), "t" if e.get("is_first_visit") else "f",
        text(get("id")), text(get("name")), text(get("category")), text(get("brand")),
        "\\N" if price is None else repr(price), "\\N" if discount is None else repr(discount),
        text(get("url_path")),
    ]
    get = page.get
    fields += (text(get("url")), text(get("path")), text(get("title")), text(get("referrer")))
    if order is None:
        fields += ("\\N", "\\N", "\\N", "\\N")
    else:
        fields += (text(order["order_id"]), repr(order["revenue"]), order["currency"],
                   _json(order.get("items", [])))
    properties = e.get("properties")
    fields += (
        "\\N" if properties is None else _json(properties),
        parse_timestamp(x["received_at"], "received_at").isoformat(), text(x["ingest_request_id"]),
        text(x.get("source_ip")), text(x.get("user_agent")), "t" if x.get("is_bot") else "f",
        _text(source_key),
    )
    try:
        return ("\t".join(fields) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        raise RejectedLine("invalid Unicode: a lone surrogate escape in a string") from None


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
            row = parse_line(line, key)
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

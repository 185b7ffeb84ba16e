"""Raw JSON Lines -> validated, normalized warehouse rows (as COPY text) or rejects.

A raw line is the client's event plus ingest's enrichment fields. Each line is split into
those two parts and each part validated against the shared contract (functions.schemas):
jsonschema-rs answers yes/no, python-jsonschema names the reason of an invalid one.

Normalization: timestamps to UTC, prices as exact decimals, strings trimmed (empty -> NULL).
This runs once per event, so it avoids per-field function calls where it can.

Two paths give the same row or reason for any line. The fast path (orjson, one jsonschema-rs
call for the whole line, normalization inlined) only ever returns rows: on any doubt, an orjson
error, an invalid event, a reject, or a value orjson may read differently from the stdlib, it
leaves the line to the exact path (stdlib json, the split validators, ``normalize``), which
alone decides every reject.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jsonschema_rs
import orjson

from functions.schemas import (
    ENRICHMENT_FIELDS,
    ENRICHMENT_SCHEMA,
    EVENT_SCHEMA,
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


_INFINITY = float("inf")


def _finite_float(text: str) -> float:
    """A JSON number as a float; one beyond a double's range (1e400) would become Infinity,
    which neither a numeric column's CHECK nor jsonb's JSON can take: a reject."""
    value = float(text)
    if value in (_INFINITY, -_INFINITY):
        raise RejectedLine(f"number out of range: {text[:40]} (a double's range ends near 1.8e308)")
    return value


_DECODE = json.JSONDecoder(parse_constant=_no_constants, parse_float=_finite_float).decode


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
                parsed = datetime.fromisoformat(text[:17] + "59" + text[19:])
            except ValueError:
                raise RejectedLine(f"{field_name}: not an RFC 3339 timestamp: {value!r}") from None
            try:
                parsed += timedelta(seconds=1)
            except OverflowError:   # 9999-12-31T23:59:60: the next second is past year 9999
                raise RejectedLine(f"{field_name}: timestamp out of range: {value!r}") from None
        else:
            raise RejectedLine(f"{field_name}: not an RFC 3339 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise RejectedLine(f"{field_name}: timestamp without a UTC offset: {value!r}")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise RejectedLine(f"{field_name}: timestamp out of range: {value!r}") from None


_fromisoformat = datetime.fromisoformat
#: For a value "YYYY-MM-DDTHH:MM:SS.f{1,6}Z" of length n: what follows value[:-1] in its
#: canonical form (isoformat of an aware UTC datetime): zeros up to 6 fraction digits, "+00:00".
_UTC_TAILS = {n: "0" * (27 - n) + "+00:00" for n in range(22, 28)}


def _utc_text(value, field_name: str) -> str:
    """``parse_timestamp(value, field_name).isoformat()``, cheaply for "YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z".

    Of that exact shape, one that fromisoformat accepts (a real date, hour < 24, second < 60) has
    the canonical form: its first 19 characters, the fraction padded to 6 digits unless it is 0,
    "+00:00". Any other value (offsets, lowercase, a space, 7+ fraction digits, leap second, epoch
    ms, an error) takes parse_timestamp.
    """
    if (type(value) is str and 19 < (n := len(value)) < 28 and value[-1] == "Z"
            and (((marks := value[4:20:3]) == "--T::." and n > 21) or (marks == "--T::Z" and n == 20))
            and (value[11] != "2" or value[12] < "4")):   # "24:00" is next day's 00:00 in new Pythons
        try:
            parsed = _fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is UTC:
                return value[:-1] + _UTC_TAILS[n] if parsed.microsecond else value[:19] + "+00:00"
    return parse_timestamp(value, field_name).isoformat()


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


#: json.dumps(v, ensure_ascii=False, separators=(",", ":")), without building an encoder per call.
_JSON_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _json(v) -> str:
    if v is None:
        return "\\N"
    return _JSON_ENCODE(v).translate(_COPY_ESCAPES)


_EMPTY: dict = {}
#: An order item's quantity is counted as a PostgreSQL integer (jsonb_to_recordset, units).
MAX_QUANTITY = 2**31 - 1


def _order_items(order: dict) -> list:
    """The order's items, each quantity a JSON integer the warehouse can count.

    The contract's "integer" admits 2.0 (stored as 2) and numbers of any size: a quantity above
    MAX_QUANTITY is a reject, as the aggregates could not add it up.
    """
    items = order.get("items", [])
    for i, item in enumerate(items):
        if item["quantity"] > MAX_QUANTITY:
            raise RejectedLine(f"context.order.items[{i}].quantity: {item['quantity']!r} is more than"
                               f" {MAX_QUANTITY}, the most the warehouse counts")
    if all(type(item["quantity"]) is int for item in items):
        return items
    return [{**item, "quantity": int(item["quantity"])} for item in items]


_ENRICHMENT_KEYS = tuple(ENRICHMENT_FIELDS)


def _line_validator():
    """``is_valid`` of a whole line (event and enrichment in one object) for the fast path.

    One jsonschema-rs validator over the event schema with the enrichment's properties and
    required fields added answers exactly as the two validators on the split parts do, as long
    as both schemas are closed objects with disjoint properties, the enrichment schema has no
    references and the event schema's allOf branches only look at the event's own properties.
    Checked here; if the contract ever grows beyond that, the split is done on a copy instead.
    """
    event, enrichment = EVENT_SCHEMA, ENRICHMENT_SCHEMA
    own = set(event.get("properties", ()))

    def local(branch) -> bool:   # an if/then/else of allOf: properties/required of the event's own
        return (type(branch) is dict and set(branch) <= {"properties", "required"}
                and set(branch.get("properties", ())) <= own and set(branch.get("required", ())) <= own)

    def has_keyword(node, prefix: str) -> bool:
        if isinstance(node, dict):
            return any(k.startswith(prefix) or has_keyword(v, prefix) for k, v in node.items())
        return isinstance(node, list) and any(has_keyword(v, prefix) for v in node)

    provable = (
        set(event) <= {"$schema", "$id", "title", "description", "type", "additionalProperties",
                       "required", "properties", "allOf", "$defs"}
        and set(enrichment) <= {"description", "type", "additionalProperties", "required", "properties"}
        and event.get("type") == enrichment.get("type") == "object"
        and event.get("additionalProperties") is False and enrichment.get("additionalProperties") is False
        and not own & set(enrichment.get("properties", ()))
        and not has_keyword(enrichment, "$")
        and all(type(item) is dict and set(item) <= {"if", "then", "else"} and all(map(local, item.values()))
                for item in event.get("allOf", ()))
    )
    if provable:
        merged = dict(event, properties={**event["properties"], **enrichment["properties"]},
                      required=[*event.get("required", ()), *enrichment.get("required", ())])
        return jsonschema_rs.Draft202012Validator(merged).is_valid

    event_valid, enrichment_valid = FAST_EVENT_VALIDATOR.is_valid, FAST_ENRICHMENT_VALIDATOR.is_valid

    def split_is_valid(record: dict) -> bool:
        return (event_valid({k: v for k, v in record.items() if k not in ENRICHMENT_FIELDS})
                and enrichment_valid({k: v for k, v in record.items() if k in ENRICHMENT_FIELDS}))

    return split_is_valid


_LINE_IS_VALID = _line_validator()
_orjson_loads = orjson.loads

#: The stdlib reads an integer beyond 64 bits exactly, orjson as a float: a row with a number of
#: magnitude 1e16 or more (repr with "e+") takes the exact path. So does a line whose free-form
#: properties may nest too deep for the stdlib's recursion limit (orjson allows 1024 levels).
_DEEP_LINE_BYTES = 1000         # nesting depth 500 needs at least 1000 bytes of brackets
_DEEP_OPENERS = 500


def _may_nest_too_deep(raw: bytes) -> bool:
    """Whether the line has enough brackets to nest past what the stdlib decoder can read."""
    return len(raw) >= _DEEP_LINE_BYTES and raw.count(b"[") + raw.count(b"{") >= _DEEP_OPENERS


def parse_line(raw: bytes, source_key: str) -> bytes:
    """One raw line -> its COPY text row (incl. newline); raises RejectedLine with the reason."""
    if b"\\" in raw:
        if b"\\u0000" in raw:
            raise RejectedLine("NUL character (\\u0000) in a string: PostgreSQL text cannot hold it")
        text, fast_row = _text, _escaped_row
    else:
        text, fast_row = _plain, _plain_row
    try:
        record = _orjson_loads(raw)
        row = fast_row(record, source_key, raw) if type(record) is dict and _LINE_IS_VALID(record) else None
    except Exception:   # any orjson error, a reject, anything odd: the exact path decides
        row = None
    if row is not None:
        return row
    try:
        return _exact_row(raw, source_key, text)
    except RecursionError:   # the stdlib decoder (and encoder) recurse once per nesting level
        raise RejectedLine("not valid JSON for this loader: nested more than ~1000 levels deep") from None


def _exact_row(raw: bytes, source_key: str, text) -> bytes:
    """The stdlib path: what decides every reject, and every line the fast path leaves."""
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
        _utc_text(e["event_timestamp"], "event_timestamp"),
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
        # currency through text() too: python-jsonschema's "^[A-Z]{3}$" (re.search) lets "USD\n" by.
        fields += (text(order["order_id"]), repr(order["revenue"]), text(order["currency"]),
                   _json(_order_items(order)))
    properties = e.get("properties")
    fields += (
        "\\N" if properties is None else _json(properties),
        _utc_text(x["received_at"], "received_at"), text(x["ingest_request_id"]),
        text(x.get("source_ip")), text(x.get("user_agent")), "t" if x.get("is_bot") else "f",
        _text(source_key),
    )
    try:
        return ("\t".join(fields) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        raise RejectedLine("invalid Unicode: a lone surrogate escape in a string") from None


#: Columns holding numbers: price, discount price, revenue, order items, properties.
_NUMBER_COLUMNS = tuple(COLUMNS.index(c) for c in (
    "context_product_price", "context_product_discount_price", "order_revenue", "order_items", "properties"))


def _escaped_row(record: dict, source_key: str, raw: bytes) -> bytes | None:
    """The fast path's row of a valid line with a backslash (``normalize``), or None."""
    if record.get("properties") is not None and _may_nest_too_deep(raw):
        return None
    row = normalize(record, record, source_key, _text)
    fields = row.split(b"\t")
    for i in _NUMBER_COLUMNS:
        if b"e+" in fields[i]:
            return None
    return row


_key_fields: dict[str, str] = {}
_NULL_PRODUCT = ("\\N",) * 7
_NULL_ORDER = ("\\N",) * 4


def _plain_row(e: dict, source_key: str, raw: bytes) -> bytes | None:  # noqa: PLR0912
    """``normalize(e, e, source_key, _plain)`` of a valid line without a backslash, its field
    calls inlined; None (or an exception) where the exact path must decide: any reject, a number
    orjson may have read differently (see _DEEP_LINE_BYTES)."""
    N = "\\N"
    client_id, session_id = e["client_id"].strip(), e["session_id"].strip()
    if not client_id or not session_id:
        return None
    ts = _utc_text(e["event_timestamp"], "event_timestamp")
    received = _utc_text(e["received_at"], "received_at")
    context = e.get("context")
    if context:
        product = context.get("product")
        order = context.get("order")
    else:
        product = order = None
    if product:
        get = product.get
        price, discount = get("price"), get("discount_price")
        price = N if price is None else repr(price)
        discount = N if discount is None else repr(discount)
        if "e+" in price or "e+" in discount:
            return None
        product = (
            N if (v := get("id")) is None else (v.strip() or N),
            N if (v := get("name")) is None else (v.strip() or N),
            N if (v := get("category")) is None else (v.strip() or N),
            N if (v := get("brand")) is None else (v.strip() or N),
            price, discount,
            N if (v := get("url_path")) is None else (v.strip() or N),
        )
    else:
        product = _NULL_PRODUCT
    if order is None:
        order = _NULL_ORDER
    else:
        revenue, items = repr(order["revenue"]), _json(_order_items(order))
        if "e+" in revenue or "e+" in items:
            return None
        order = (order["order_id"].strip() or N, revenue, order["currency"], items)
    properties = e.get("properties")
    if properties is None:
        properties = N
    else:
        if _may_nest_too_deep(raw):
            return None
        properties = _json(properties)
        if "e+" in properties:
            return None
    key = _key_fields.get(source_key)
    if key is None:
        if len(_key_fields) > 256:
            _key_fields.clear()
        key = _key_fields[source_key] = _text(source_key) + "\n"
    get = (e.get("page") or _EMPTY).get
    eget = e.get
    return "\t".join([
        e["event_id"].strip().lower(), ts, e["event_name"],
        N if (v := eget("user_id")) is None else (v.strip() or N),
        e["user_login_state"],
        N if (v := eget("identity_source")) is None else (v.strip() or N),
        client_id, session_id, "t" if eget("is_first_visit") else "f",
        *product,
        N if (v := get("url")) is None else (v.strip() or N),
        N if (v := get("path")) is None else (v.strip() or N),
        N if (v := get("title")) is None else (v.strip() or N),
        N if (v := get("referrer")) is None else (v.strip() or N),
        *order,
        properties, received,
        e["ingest_request_id"].strip() or N,
        N if (v := eget("source_ip")) is None else (v.strip() or N),
        N if (v := eget("user_agent")) is None else (v.strip() or N),
        "t" if eget("is_bot") else "f",
        key,
    ]).encode()   # UnicodeEncodeError (a lone surrogate escape needs a backslash): exact path


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

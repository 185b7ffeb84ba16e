"""Raw JSON Lines -> COPY rows or rejects: line framing, gzip, the JSON and validation policy.

A raw line is the client's event plus ingest's enrichment fields. Each line is split into
those two parts and each part validated against the shared contract (functions.schemas):
jsonschema-rs answers yes/no, python-jsonschema names the reason of an invalid one. The row
itself comes from the one column table, ``rows.ROW_SPEC``.

Two paths give the same row or reason for any line. The fast path (orjson, one jsonschema-rs
call for the whole line, a row function generated from the table) only ever returns rows: on
any doubt, an orjson error, an invalid event, a reject, or a value orjson may read differently
from the stdlib, it leaves the line to the exact path (``exact_row``: stdlib json, the split
validators, ``rows.normalize``), which alone decides every reject.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import jsonschema_rs
import orjson

from functions import event_time
from functions.etl.rows import ESCAPED_ROW, PLAIN_ROW, normalize
from functions.etl.values import RejectedLine
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
NUL_REASON = "NUL character (\\u0000) in a string: PostgreSQL text cannot hold it"


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


def parse_line(raw: bytes, source_key: str) -> bytes:
    """One raw line -> its COPY text row (incl. newline); raises RejectedLine with the reason."""
    if b"\\" in raw:
        if b"\\u0000" in raw:
            raise RejectedLine(NUL_REASON)
        fast_row = ESCAPED_ROW
    else:
        fast_row = PLAIN_ROW
    try:
        record = _orjson_loads(raw)
        if type(record) is dict and _LINE_IS_VALID(record) and _in_window(record):
            return fast_row(record, source_key, raw)
    except Exception:  # noqa: S110 - any orjson error, a reject, anything odd: the exact path decides
        pass
    return exact_row(raw, source_key)


_fromisoformat = datetime.fromisoformat
_UTC = UTC


def _in_window(record: dict) -> bool:
    """The fast path's event time window check: True inside it; False or an error (a leap
    second, an offset-less time) leaves the line to the exact path, which decides."""
    value = record["event_timestamp"]
    client = (datetime.fromtimestamp(value / 1000, _UTC) if type(value) is int
              else _fromisoformat(value))
    return event_time.WINDOW.contains(client, _fromisoformat(record["received_at"]))


def _window_check(record: dict) -> None:
    """RejectedLine when a valid record's event_timestamp is outside the window around its
    received_at (functions.event_time, the rule ingest applies too)."""
    received_at = event_time.parse_client_time(record.get("received_at"))
    if received_at is not None:
        reason = event_time.client_time_reason(record.get("event_timestamp"), received_at)
        if reason is not None:
            raise RejectedLine(reason)


def exact_row(raw: bytes, source_key: str) -> bytes:
    """The stdlib path: what decides every reject, and every line the fast path leaves."""
    if b"\\u0000" in raw:
        raise RejectedLine(NUL_REASON)
    try:
        return _exact_row(raw, source_key)
    except RecursionError:   # the stdlib decoder (and encoder) recurse once per nesting level
        raise RejectedLine("not valid JSON for this loader: nested more than ~1000 levels deep") from None


def _exact_row(raw: bytes, source_key: str) -> bytes:
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
    record.update(enrichment)
    _window_check(record)
    return normalize(record, source_key)


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

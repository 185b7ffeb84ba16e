"""Parsing and validation without AWS or PostgreSQL: the fast (jsonschema-rs) validators never
accept what python-jsonschema rejects, normalization, line splitting and gzip handling."""

from __future__ import annotations

import copy
import gzip
import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from functions.etl import parsing, rows
from functions.etl.parsing import (
    MAX_LINE_BYTES,
    ObjectParse,
    RejectedLine,
    iter_raw_lines,
    parse_line,
    parse_object,
)
from functions.schemas import (
    ENRICHMENT_FIELDS,
    ENRICHMENT_VALIDATOR,
    EVENT_VALIDATOR,
    FAST_ENRICHMENT_VALIDATOR,
    FAST_EVENT_VALIDATOR,
    validate_enrichment,
    validate_event,
)
from tests.etl.support import make_traffic

RECORDS = make_traffic(seed=5, start=datetime(2026, 11, 20, tzinfo=UTC), sessions=40,
                       spread=__import__("datetime").timedelta(hours=2))


def split(record: dict) -> tuple[dict, dict]:
    return ({k: v for k, v in record.items() if k not in ENRICHMENT_FIELDS},
            {k: v for k, v in record.items() if k in ENRICHMENT_FIELDS})


def row_field(row: bytes, column: str) -> str:
    return row.decode().rstrip("\n").split("\t")[rows.COLUMNS.index(column)]


def test_fast_validators_accept_realistic_events():
    for record in RECORDS:
        event, enrichment = split(record)
        assert FAST_EVENT_VALIDATOR.is_valid(event), event
        assert FAST_ENRICHMENT_VALIDATOR.is_valid(enrichment)


BAD_VALUES = [None, True, False, 0, -1, 1.5, 2.0, float("inf"), "", " ", "x" * 129, "x" * 2049, [], {}, [1],
              {"id": "p"}, "2026-11-20T10:00:00Z", 1_700_000_000_000, 1_700_000_000_000.0, "GUEST", "usd"]


def mutations(event: dict):
    """Every field (nested too) replaced by each odd value, removed, or joined by an unknown sibling."""
    def paths(node, prefix=()):
        if isinstance(node, dict):
            for k, v in node.items():
                yield (*prefix, k)
                yield from paths(v, (*prefix, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from paths(v, (*prefix, i))

    for path in list(paths(event)):
        for value in [*BAD_VALUES, "delete"]:
            mutated = copy.deepcopy(event)
            parent = mutated
            for step in path[:-1]:
                parent = parent[step]
            if value == "delete":
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
            yield mutated
        extra = copy.deepcopy(event)
        parent = extra
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict):
            parent["unexpected"] = 1
            yield extra


def test_fast_validators_never_accept_what_the_schema_rejects():
    rng = random.Random(1)
    samples = rng.sample(RECORDS, 5) + [r for r in RECORDS if r["event_name"] == "purchase"][:2]
    checked = disagreements = 0
    for record in samples:
        event, enrichment = split(record)
        for candidate in mutations(event):
            checked += 1
            if FAST_EVENT_VALIDATOR.is_valid(candidate):
                assert EVENT_VALIDATOR.is_valid(candidate), candidate
            else:
                disagreements += EVENT_VALIDATOR.is_valid(candidate)
        for candidate in mutations(enrichment):
            if FAST_ENRICHMENT_VALIDATOR.is_valid(candidate):
                assert ENRICHMENT_VALIDATOR.is_valid(candidate), candidate
    assert checked > 2000
    # They may disagree on valid oddities (a final newline before "$"...), but rarely.
    assert disagreements < checked * 0.05


def event_timestamp(row: bytes) -> datetime:
    return datetime.fromisoformat(row_field(row, "event_timestamp"))


def test_schema_valid_oddities_load():
    event = dict(RECORDS[0], event_timestamp=1_763_632_800_000.0)   # an integral float is an integer
    expected = datetime(2025, 11, 20, 10, 0, tzinfo=UTC)
    assert event_timestamp(parse_line(json.dumps(event).encode(), "k")) == expected
    leap = dict(RECORDS[0], event_timestamp="2026-12-31T23:59:60Z")
    assert event_timestamp(parse_line(json.dumps(leap).encode(), "k")) == datetime(2027, 1, 1, tzinfo=UTC)
    big = dict(RECORDS[0], properties={"big": 10**40})   # beyond what jsonschema-rs holds: python decides
    assert json.loads(row_field(parse_line(json.dumps(big).encode(), "k"), "properties")) == {"big": 10**40}


@pytest.mark.parametrize(("line", "reason"), [
    (b'{"a": 1', "not valid JSON"),
    (b'"just a string"', "not a JSON object but a JSON str"),
    (b'{"x": Infinity}', "Infinity is not a JSON number"),
    (b'{"x": -1e400}', r"number out of range: -1e400 \(a double's range ends near 1.8e308\)"),
    (b'{"event_id": "a\\u0000b"}', "NUL character"),
])
def test_reasons_name_the_problem(line, reason):
    with pytest.raises(RejectedLine, match=reason):
        parse_line(line, "k")


def test_missing_enrichment_is_rejected_by_name():
    record = dict(RECORDS[0])
    del record["received_at"]
    with pytest.raises(RejectedLine, match="received_at"):
        parse_line(json.dumps(record).encode(), "k")


def test_copy_row_escapes_tabs_newlines_and_backslashes():
    record = copy.deepcopy(RECORDS[0])
    record["page"]["title"] = "a\tb\nc\\d"
    row = parse_line(json.dumps(record).encode(), "k")
    fields = row.decode().rstrip("\n").split("\t")
    assert len(fields) == len(rows.COLUMNS)
    assert fields[rows.COLUMNS.index("page_title")] == "a\\tb\\nc\\\\d"


def test_lines_split_across_chunks_and_crlf():
    body = b"".join(json.dumps(r).encode() + b"\r\n" for r in RECORDS[:30])
    chunks = [body[i:i + 97] for i in range(0, len(body), 97)]
    result = ObjectParse()
    rows = b"".join(parse_object(iter(chunks), "k", False, result, rows_per_chunk=7))
    assert (result.events, result.rejected, rows.count(b"\n")) == (30, 0, 30)


def test_over_long_line_is_skipped_to_its_end():
    body = b"x" * (MAX_LINE_BYTES + 10) + b"\n" + json.dumps(RECORDS[0]).encode() + b"\n"
    result = ObjectParse()
    lines = list(iter_raw_lines(iter([body[:1000], body[1000:]]), False, result))
    assert [n for n, _ in lines] == [2]
    assert result.rejects[0].line == 1 and "longer than" in result.rejects[0].reason


def test_concatenated_gzip_members_and_corrupt_gzip():
    one, two = (gzip.compress(json.dumps(r).encode() + b"\n") for r in RECORDS[:2])
    result = ObjectParse()
    assert len(list(iter_raw_lines(iter([one + two]), True, result))) == 2
    corrupt = ObjectParse()
    list(iter_raw_lines(iter([b"not gzip at all"]), True, corrupt))
    assert "corrupt gzip stream" in corrupt.rejects[0].reason


def test_rejects_per_object_are_capped_but_counted():
    body = b"garbage\n" * (parsing.MAX_REJECTS_RECORDED + 50)
    result = ObjectParse()
    assert list(parse_object(iter([body]), "k", False, result)) == []
    assert result.rejected == parsing.MAX_REJECTS_RECORDED + 50
    assert len(result.rejects) == parsing.MAX_REJECTS_RECORDED + 2
    assert result.rejects[-2].reason == "50 more rejected lines not recorded one by one"


# --- The fast path (orjson, one validator call, inlined normalization) against today's code ---------
# reference_parse_line is parse_line as it was before the fast path (stdlib json, split validators,
# per-field calls), kept here only to compare with: every line must give the same row or reason.

def _reference_no_constants(name: str):
    raise RejectedLine(f"not valid JSON: {name} is not a JSON number")


_REFERENCE_DECODE = json.JSONDecoder(parse_constant=_reference_no_constants).decode
_REFERENCE_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_REFERENCE_EMPTY: dict = {}


def reference_parse_timestamp(value, field_name: str) -> datetime:
    if type(value) is int or type(value) is float:
        return datetime.fromtimestamp(value / 1000, UTC)
    text = value.strip().upper()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        if len(text) > 19 and text[17:19] == "60":
            try:
                parsed = datetime.fromisoformat(text[:17] + "59" + text[19:])
            except ValueError:
                raise RejectedLine(f"{field_name}: not an RFC 3339 timestamp: {value!r}") from None
            try:   # fixed since the copy: 9999-12-31T23:59:60 used to raise OverflowError
                parsed += timedelta(seconds=1)
            except OverflowError:
                raise RejectedLine(f"{field_name}: timestamp out of range: {value!r}") from None
        else:
            raise RejectedLine(f"{field_name}: not an RFC 3339 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise RejectedLine(f"{field_name}: timestamp without a UTC offset: {value!r}")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise RejectedLine(f"{field_name}: timestamp out of range: {value!r}") from None


def _reference_text(v) -> str:
    if v is None:
        return "\\N"
    v = v.strip()
    if not v:
        return "\\N"
    if "\\" in v or "\t" in v or "\n" in v or "\r" in v:
        return v.translate(_REFERENCE_ESCAPES)
    return v


def _reference_plain(v) -> str:
    if v is None:
        return "\\N"
    return v.strip() or "\\N"


def _reference_json(v) -> str:
    if v is None:
        return "\\N"
    return json.dumps(v, ensure_ascii=False, separators=(",", ":")).translate(_REFERENCE_ESCAPES)


def reference_normalize(e: dict, x: dict, source_key: str, text=_reference_text) -> bytes:
    client_id, session_id = e["client_id"].strip(), e["session_id"].strip()
    if not client_id or not session_id:
        # changed since the copy: the reason names the blank field
        raise RejectedLine(f"{'session_id' if client_id else 'client_id'}: blank after trimming whitespace")
    page = e.get("page") or _REFERENCE_EMPTY
    context = e.get("context")
    if context:
        product = context.get("product") or _REFERENCE_EMPTY
        order = context.get("order")
    else:
        product, order = _REFERENCE_EMPTY, None
    get = product.get
    price, discount = get("price"), get("discount_price")
    fields = [
        e["event_id"].strip().lower(),
        reference_parse_timestamp(e["event_timestamp"], "event_timestamp").isoformat(),
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
        # fixed since the copy: a quantity that is a float (2.0) or too big for integer
        # stopped the batch's aggregates, and every rerun (same rule as parsing._order_items)
        items = order.get("items", [])
        for i, item in enumerate(items):
            if item["quantity"] > 2**31 - 1:
                raise RejectedLine(f"context.order.items[{i}].quantity: {item['quantity']!r} is more than"
                                   f" {2**31 - 1}, the most the warehouse counts")
        items = [{**item, "quantity": int(item["quantity"])} for item in items]
        fields += (text(order["order_id"]), repr(order["revenue"]), order["currency"], _reference_json(items))
    properties = e.get("properties")
    fields += (
        "\\N" if properties is None else _reference_json(properties),
        reference_parse_timestamp(x["received_at"], "received_at").isoformat(), text(x["ingest_request_id"]),
        text(x.get("source_ip")), text(x.get("user_agent")), "t" if x.get("is_bot") else "f",
        _reference_text(source_key),
    )
    try:
        return ("\t".join(fields) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        raise RejectedLine("invalid Unicode: a lone surrogate escape in a string") from None


def reference_parse_line(raw: bytes, source_key: str) -> bytes:
    try:
        return _reference_parse_line(raw, source_key)
    except RecursionError:   # fixed since the copy: deep nesting used to stop the whole run
        raise RejectedLine("not valid JSON for this loader: nested more than ~1000 levels deep") from None


def _reference_parse_line(raw: bytes, source_key: str) -> bytes:
    if b"\\" in raw:
        if b"\\u0000" in raw:
            raise RejectedLine("NUL character (\\u0000) in a string: PostgreSQL text cannot hold it")
        text = _reference_text
    else:
        text = _reference_plain
    try:
        record = _REFERENCE_DECODE(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RejectedLine("not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise RejectedLine(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    if type(record) is not dict:
        raise RejectedLine(f"not a JSON object but a JSON {type(record).__name__}")
    pop = record.pop
    enrichment = {k: pop(k) for k in tuple(ENRICHMENT_FIELDS) if k in record}
    try:
        valid = FAST_EVENT_VALIDATOR.is_valid(record) and FAST_ENRICHMENT_VALIDATOR.is_valid(enrichment)
    except (ValueError, TypeError, OverflowError):
        valid = False
    if not valid:
        reason = validate_event(record) or validate_enrichment(enrichment)
        if reason:
            raise RejectedLine(reason)
    return reference_normalize(record, enrichment, source_key, text)


def outcome(parse, raw: bytes, key: str = "k"):
    """("row", bytes), ("reject", reason) or ("error", exception type) of one line."""
    try:
        return "row", parse(raw, key)
    except RejectedLine as exc:
        return "reject", str(exc)
    except Exception as exc:   # e.g. RecursionError: must be the same too
        return "error", type(exc).__name__


def bench_lines(n: int) -> list[bytes]:
    """Lines as the benchmark makes them (bench/etl.py), compact JSON."""
    from bench.etl import generate  # noqa: PLC0415 - the benchmark script, only for its data

    return [json.dumps(e, separators=(",", ":")).encode() for e in generate(n, 24)]


def line(record: dict, **options) -> bytes:
    """Compact JSON as ingest writes it (a lone surrogate: as invalid UTF-8)."""
    text = json.dumps(record, **{"separators": (",", ":"), "ensure_ascii": False, **options})
    return text.encode("utf-8", "surrogatepass")


def with_fields(base: dict, *, product: dict | None = None, order: dict | None = None, **fields) -> dict:
    record = copy.deepcopy(base)
    record.update(fields)
    if product is not None:
        record["event_name"] = "product_view"
        record["context"] = {"product": {"id": "P1", **product}}
    if order is not None:
        record["event_name"] = "purchase"
        record["context"] = {"order": {"order_id": "o-1", "revenue": 1.5, "currency": "USD", **order}}
    return record


TIMESTAMPS = [
    "2026-11-20T10:00:00Z", "2026-11-20T10:00:00.5Z", "2026-11-20T10:00:00.50Z", "2026-11-20T10:00:00.000Z",
    "2026-11-20T10:00:00.123Z", "2026-11-20T10:00:00.1234Z", "2026-11-20T10:00:00.12345Z",
    "2026-11-20T10:00:00.123456Z", "2026-11-20T10:00:00.000000Z", "2026-11-20T10:00:00.000001Z",
    "2026-11-20T10:00:00.1234567Z", "2026-11-20T10:00:00.123456789Z", "2026-11-20T10:00:00.000000001Z",
    "2026-11-20T23:59:59.999999Z", "2026-11-20T20:00:00Z", "2026-11-20T19:59:59.9Z",
    "2026-11-20T17:06:00.123456789+07:00", "2026-11-20T15:30:00+05:30", "2026-11-20T02:00:00-08:00",
    "2026-11-20T10:00:00+00:00", "2026-11-20T10:00:00-00:00", "2026-11-20T10:00:00z", "2026-11-20t10:00:00Z",
    "2026-11-20 10:00:00Z", "2026-12-31T23:59:60Z", "2026-12-31T23:59:60.5Z", "2026-06-30T23:59:60+02:00",
    "2024-02-29T12:00:00Z", "2026-02-29T12:00:00Z", "2026-02-30T10:00:00Z", "2026-13-01T10:00:00Z",
    "2026-11-20T24:00:00Z", "2026-11-20T10:60:00Z", "2026-11-20T10:00Z", "2026-11-20T10Z", "20261120T100000Z",
    "2026-11-20T10:00:00,5Z", "2026-11-20T10:00:00.Z", "2026-11-20T10:00:00", "2026-11-20",
    "2026-W47-5T10:00:00Z", " 2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z ", "\t2026-11-20T10:00:00.25Z\n",
    "2026-11-20T1\uff10:00:00Z", "0001-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00",
    "9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:60Z",
    "9999-12-31T23:00:00-01:00", "0000-01-01T00:00:00Z", "", "Z", "not a time",
    1_763_632_800_000, 1_763_632_800_123, 1_763_632_800_000.0, 1_763_632_800_123.5, 946_684_800_000,
    4_102_444_800_000, 4_102_444_800_001, 0, -1, True, None, 10**20,
]


def edge_case_lines() -> list[bytes]:
    base = copy.deepcopy(RECORDS[0])
    records = []
    for ts in TIMESTAMPS:
        records.append(with_fields(base, event_timestamp=ts))
        records.append(with_fields(base, received_at=ts))
    odd_strings = ["", " ", "  padded  ", "\u00a0nbsp\u00a0", "\u3000wide\u3000", "\u2028", "a\tb", "a\nb",
                   "a\rb", "back\\slash", 'say "hi"', "Ümlaut ☃ 😀", "\ud800", "\udc00\ud800", "\x7f", "\x01",
                   "\\N", "x" * 128]
    for s in odd_strings:
        records += [
            with_fields(base, user_id=s), with_fields(base, client_id=s), with_fields(base, session_id=s),
            with_fields(base, identity_source=s), with_fields(base, source_ip=s),
            with_fields(base, user_agent=s),
            with_fields(base, ingest_request_id=s), with_fields(base, event_id=s),
            with_fields(base, page={"url": s, "path": s, "title": s, "referrer": s}),
            with_fields(base, product={"name": s, "category": s, "brand": s, "url_path": s, "id": s or "P"}),
            with_fields(base, order={"order_id": s or "o", "currency": s}),
            with_fields(base, properties={s: s, "k": [s]}),
        ]
    numbers = [0, 1, 10, 10.0, 0.1 + 0.2, 1e-7, 5e-324, 1e16, 1.5e300, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1,
               2**64, 10**20, 10**40, -0.0, -1, 1.7976931348623157e308, float("inf"), float("nan")]
    for v in numbers:
        records += [
            with_fields(base, product={"price": v}),
            with_fields(base, product={"price": 1.25, "discount_price": v}),
            with_fields(base, order={"revenue": v}),
            with_fields(base, order={"items": [{"product_id": "P1", "quantity": v, "price": v}]}),
            with_fields(base, properties={"n": v, "nested": [{"n": v}]}),
        ]
    records += [
        with_fields(base, event_name="page_view\n"), with_fields(base, event_id=base["event_id"].upper()),
        with_fields(base, order={"currency": "USD\n"}, properties={"big": 10**40}),
        with_fields(base, properties={}), with_fields(base, properties={"a": None}),
        with_fields(base, page={}), with_fields(base, context={}), with_fields(base, page=None),
        with_fields(base, is_first_visit=True), with_fields(base, is_bot=True),
        with_fields(base, colour="red"), with_fields(base, received_at=None),
        with_fields(base, order={"items": []}),
        with_fields(base, order={"items": [{"product_id": "P", "quantity": 1}]}),
        {k: v for k, v in base.items() if k not in ("source_ip", "user_agent", "is_bot")},
        {k: v for k, v in base.items() if k != "ingest_request_id"},
    ]
    lines = [line(r) for r in records] + [line(r, ensure_ascii=True) for r in records]
    lines += [json.dumps(r).encode() for r in records[:40]]          # ", " and ": " separators
    good = line(base)
    assert "properties" not in base
    for depth in (10, 400, 600, 1010, 1030):   # properties: free-form, as deep as a decoder lets it
        lines.append(good[:-1] + b',"properties":{"deep":' + b"[" * depth + b"1" + b"]" * depth + b"}}")
    lines += [
        b"", b"{}", b"[]", b"null", b"42", b'"just a string"', b"[1, 2, 3]", b'{"a": 1', b"{this is not json",
        b'{"x": NaN}', b'{"x": -Infinity}', b'{"x": Infinity}', b"\xff\xfe not utf-8", b"\xef\xbb\xbf" + good,
        good + b" ", b" \t" + good + b"\r\n", good + b"x", good + b"{}", good[:-1], good[:-1] + b',}',
        good[:-1] + b',"event_id":"6f1c3c2e-4a7b-4c2d-9e1f-0a1b2c3d4e5f"}',      # duplicate key: last wins
        b'{"event_id":"nope",' + good[1:], good[:-1] + b',"received_at":"2026-11-20T10:00:00.5Z"}',
        good.replace(b'"is_bot":false', b'"is_bot":false,"is_bot":true'),
        good.replace(b'"client_id":"', b'"client_id":"\x01'),
        *(good.replace(b'"title":"', b'"title":"' + insert) for insert in (
            b"\xed\xa0\x80", b"\xc0\x80", b"\\u0000", b"\\ud83d\\ude00", b"\\/\\u00e9", b"\\x", b"\\ud800")),
        good.replace(b":", b" : "), good.replace(b",", b"\n,"),
    ]
    return lines


def mutated_lines() -> list[bytes]:
    """Every field of a few records given odd values or removed (schema-invalid ones mostly)."""
    rng = random.Random(7)
    records = rng.sample(RECORDS, 2) + [r for r in RECORDS if r["event_name"] == "purchase"][:1]
    lines = []
    for record in records:
        event, enrichment = split(record)
        lines += [line({**candidate, **enrichment}) for candidate in mutations(event)]
        lines += [line({**event, **candidate}) for candidate in mutations(enrichment)]
    return lines


def byte_mutants(lines: list[bytes], n: int) -> list[bytes]:
    """Lines with one byte dropped, doubled or replaced: mostly broken JSON, some odd values."""
    rng = random.Random(11)
    out = []
    for _ in range(n):
        raw = rng.choice(lines)
        i = rng.randrange(len(raw))
        kind = rng.randrange(3)
        if kind == 0:
            out.append(raw[:i] + raw[i + 1:])
        elif kind == 1:
            out.append(raw[:i] + raw[i:i + 1] * 2 + raw[i + 1:])
        else:
            byte = rng.choice(b' "\\,:{}[]0123456789.eE-+ntfu\x00\x80\xff')
            out.append(raw[:i] + bytes([byte]) + raw[i + 1:])
    return out


def test_parse_line_gives_the_reference_row_or_reason_for_every_line():
    bench = bench_lines(3000)
    traffic = [line(r) for r in RECORDS]
    lines = bench + traffic + edge_case_lines() + mutated_lines() + byte_mutants(bench[:200] + traffic, 1500)
    kinds: dict[str, int] = {}
    for raw in lines:
        for key in ("k", "events/2026/11/20/10/events-1.json", " spaced\tkey\\ "):
            expected = outcome(reference_parse_line, raw, key)
            assert outcome(parse_line, raw, key) == expected, (raw[:300], key)
        kinds[expected[0]] = kinds.get(expected[0], 0) + 1
    # The corpus exercises rows and rejects alike (so the comparison can fail either way), and
    # no line raises anything but a reject (deep nesting and the 9999 leap second used to).
    assert kinds["row"] > 4000 and kinds["reject"] > 2000 and "error" not in kinds, kinds


def test_the_fast_path_takes_the_benchmark_lines(monkeypatch):
    """Ordinary lines never fall back to the stdlib path (that would only cost time)."""
    fallbacks = []
    exact = parsing.exact_row

    def counting(raw, key):
        fallbacks.append(raw)
        return exact(raw, key)

    monkeypatch.setattr(parsing, "exact_row", counting)
    lines = bench_lines(500) + [line(r) for r in RECORDS] + [line(r, ensure_ascii=True) for r in RECORDS[:50]]
    rows = [parse_line(raw, "k") for raw in lines]
    assert fallbacks == []
    assert rows == [reference_parse_line(raw, "k") for raw in lines]


def test_orjson_reads_valid_lines_as_the_stdlib_does():
    import orjson  # noqa: PLC0415

    snippets = [
        b'{"a":1,"b":2,"a":3}', b'{"p":[0.1,1e-7,5e-324,1.7976931348623157e308,-0.0,1E2,1e+2,2.5e-3]}',
        b'{"i":[9223372036854775807,-9223372036854775808,18446744073709551615,-0,0]}',
        b'{"s":"\\u00e9\\ud83d\\ude00\\/\\"\\\\\\t","u":"\xc3\xa9\xf0\x9f\x98\x80"}', b' {"w" : [ ] } ',
    ]
    for raw in bench_lines(300) + [line(r) for r in RECORDS] + snippets:
        ours, theirs = orjson.loads(raw), json.loads(raw)
        assert ours == theirs and repr(ours) == repr(theirs), raw
    duplicates = orjson.loads(snippets[0])
    assert list(duplicates.items()) == list(json.loads(snippets[0]).items()) == [("a", 3), ("b", 2)]


def test_one_validator_call_answers_as_the_split_validators(monkeypatch):
    """The whole-line validator (the contract allows it) and the fallback that splits a copy
    agree with the two validators on the split parts."""
    assert parsing._LINE_IS_VALID.__name__ == "is_valid"       # the one-call validator is in use
    changed = copy.deepcopy(parsing.EVENT_SCHEMA)
    changed["minProperties"] = 1                                 # not provably the same any more
    monkeypatch.setattr(parsing, "EVENT_SCHEMA", changed)
    split_validator = parsing._line_validator()
    assert split_validator.__name__ == "split_is_valid"
    for raw in mutated_lines()[::3] + [line(r) for r in RECORDS[:50]]:
        record = json.loads(raw)
        event, enrichment = split(record)
        expected = FAST_EVENT_VALIDATOR.is_valid(event) and FAST_ENRICHMENT_VALIDATOR.is_valid(enrichment)
        assert parsing._LINE_IS_VALID(record) == expected == split_validator(record), raw

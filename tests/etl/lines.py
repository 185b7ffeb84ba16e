"""Raw lines for the parser tests: the benchmark's and the traffic generator's, a corpus of odd
values, field mutations and byte mutants, and a hypothesis strategy of awkward raw lines."""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from functions.etl.values import RejectedLine
from functions.raw_layout import object_key
from functions.schemas import ENRICHMENT_FIELDS
from tests.etl.support import make_traffic

RECORDS = make_traffic(seed=5, start=datetime(2026, 11, 20, tzinfo=UTC), sessions=40,
                       spread=timedelta(hours=2))
#: Object keys the rows are made with: plain, as the layout writes them, and one COPY must escape.
KEYS = ("k", object_key(datetime(2026, 11, 20, 10, tzinfo=UTC), "1"), " spaced\tkey\\ ")


def split(record: dict) -> tuple[dict, dict]:
    return ({k: v for k, v in record.items() if k not in ENRICHMENT_FIELDS},
            {k: v for k, v in record.items() if k in ENRICHMENT_FIELDS})


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




# ---------------------------------------------------------------- generated raw lines (hypothesis)

ODD_STRINGS = ("", " ", "  padded  ", "\u00a0nbsp\u00a0", "\u3000wide\u3000", "\u2028", "a\tb", "a\nb",
               "a\rb", "back\\slash", 'say "hi"', "Ümlaut ☃ 😀", "\ud800", "\udc00\ud800", "\x7f", "\x01",
               "\\N", "e+5", "1e+16", "x" * 128, "\x00")
#: Numbers as JSON text, put into a line after encoding (the stdlib could not write some of them).
ODD_NUMBER_TEXTS = ("1E2", "1e400", "-1e400", "1e+2", "1.0e+16", "1e16", "10000000000000000",
                    "123456789012345678901234567890", "18446744073709551616", "-0", "-0.0", "0.1e-7",
                    "5e-324", "1.7976931348623157e308", "2.0", "NaN", "Infinity")
EVENT_NAMES = ("page_view", "product_view", "add_to_cart", "remove_from_cart", "begin_checkout", "purchase",
               "search", "click", "page_view\n", "Page_View")



def mostly(usual, odd, percent: int = 30):
    """``usual``, and ``odd`` in about ``percent`` of the draws (hypothesis favours the ends of a
    range, which both take ``usual``)."""
    return st.integers(0, 99).flatmap(lambda n: odd if 0 < n <= percent else usual)


plain_texts = st.text(alphabet=st.characters(codec="ascii", categories=("L", "N", "Zs", "P")), max_size=24)
texts = mostly(plain_texts, st.one_of(st.text(max_size=24), st.sampled_from(ODD_STRINGS)), 20)
nullable_texts = mostly(texts, st.none(), 20)
numbers = st.one_of(
    st.integers(min_value=0, max_value=2**70),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 10.0, 0.1 + 0.2, 1e16, 1.5e300, 2**53 + 1, 2**63, 2**64, 10**20, 5e-324, -0.0, -1]),
)
quantities = st.one_of(st.integers(min_value=1, max_value=2**40),
                       st.sampled_from([1.0, 2.0, 2**31 - 1, 2**31, 3e9, 10**20, 0, 1.5]))


def _fraction(digits: str) -> str:
    return f".{digits}" if digits else ""


@st.composite
def rfc3339(draw) -> str:
    """RFC 3339 text as clients write it: any offset, 0-9 fraction digits, T/t/space, a leap second."""
    moment = draw(mostly(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
                         st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)), 10))
    second = draw(mostly(st.just(f"{moment.second:02d}"), st.just("60"), 5))
    digits = draw(st.text(alphabet="0123456789", max_size=9))
    zone = draw(mostly(st.just("Z"), st.sampled_from(["z", "+00:00", "-00:00", "+05:30", "-08:00", "+23:59"]),
                       30))
    sep = draw(mostly(st.just("T"), st.sampled_from("t "), 10))
    return f"{moment:%Y-%m-%d}{sep}{moment:%H:%M}:{second}{_fraction(digits)}{zone}"


timestamps = mostly(rfc3339(), st.one_of(
    st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000),        # epoch ms
    st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000).map(float),
    st.floats(min_value=9e11, max_value=5e12),
    st.sampled_from(TIMESTAMPS),
), 40)

products = st.fixed_dictionaries(
    {"id": st.one_of(st.just("P1"), texts)},
    optional={"name": texts, "category": texts, "brand": texts, "price": numbers, "discount_price": numbers,
              "url_path": texts})
items = st.fixed_dictionaries({"product_id": st.one_of(st.just("P1"), texts), "quantity": quantities},
                              optional={"price": numbers})
orders = st.fixed_dictionaries(
    {"order_id": st.one_of(st.just("o-1"), texts), "revenue": numbers,
     "currency": st.sampled_from(["USD", "VND", "EUR", "usd", "USD\n", " USD", "US"])},
    optional={"items": st.lists(items, max_size=3)})
pages = st.fixed_dictionaries({}, optional={"url": texts, "path": texts, "title": texts, "referrer": texts})
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=8)
uuids = st.uuids().flatmap(lambda u: mostly(st.just(str(u)), st.sampled_from(
    [str(u).upper(), f" {u}\n", f" {u} ", u.hex, str(u)[:-1]]), 10))


@st.composite
def records(draw) -> dict:
    """A raw line's record: mostly valid, every field at times odd, missing, null or misplaced."""
    name = draw(mostly(st.sampled_from(EVENT_NAMES[:8]), st.sampled_from(EVENT_NAMES[8:]), 5))
    record = {
        "event_id": draw(uuids), "event_timestamp": draw(timestamps), "event_name": name,
        "user_login_state": draw(mostly(st.sampled_from(["guest", "logged_in"]), st.just("GUEST"), 5)),
        "client_id": draw(mostly(st.just("c-1"), texts, 30)),
        "session_id": draw(mostly(st.just("s-1"), texts, 30)),
        "received_at": draw(mostly(rfc3339(), st.sampled_from(TIMESTAMPS), 20)),
        "ingest_request_id": draw(texts),
    }
    optional = {"user_id": nullable_texts, "identity_source": nullable_texts, "is_first_visit": st.booleans(),
                "page": mostly(pages, st.none(), 5), "source_ip": nullable_texts,
                "properties": mostly(st.dictionaries(texts, json_values, max_size=4), json_values, 5),
                "user_agent": nullable_texts, "is_bot": st.booleans(), "colour": texts}
    for field, strategy in optional.items():
        if 0 < draw(st.integers(0, 99)) <= (2 if field == "colour" else 50):
            record[field] = draw(strategy)
    context = {}
    if name in ("product_view", "add_to_cart", "remove_from_cart") or 0 < draw(st.integers(0, 99)) <= 10:
        context["product"] = draw(products)
    if name == "purchase" or 0 < draw(st.integers(0, 99)) <= 10:
        context["order"] = draw(orders)
    if context or draw(st.booleans()):
        record["context"] = context
    if 0 < draw(st.integers(0, 99)) <= 2:
        del record[draw(st.sampled_from(sorted(record)))]
    return record


@st.composite
def raw_lines(draw) -> bytes:
    """A record as a raw line: compact or spaced JSON, ASCII-escaped or UTF-8 (a lone surrogate as
    invalid UTF-8), at times with a number the stdlib cannot write, or nesting up to 1100 deep."""
    record = draw(records())
    marker = "@@raw-json@@"
    raw_json = None
    choice = draw(st.integers(0, 99))
    if 0 < choice <= 10:
        raw_json = draw(st.sampled_from(ODD_NUMBER_TEXTS))
    elif 10 < choice <= 15:
        depth = draw(st.integers(0, 1100))
        raw_json = "[" * depth + "1" + "]" * depth
    if raw_json is not None:
        place = draw(st.sampled_from(["properties", "price", "revenue", "quantity"]))
        if place == "properties" or "context" not in record:
            record["properties"] = {"x": marker}
        elif place == "price" and "product" in record["context"]:
            record["context"]["product"]["price"] = marker
        elif "order" in record["context"]:
            order = record["context"]["order"]
            if place == "quantity" and order.get("items"):
                order["items"][0]["quantity"] = marker
            else:
                order["revenue"] = marker
        else:
            record["properties"] = {"x": marker}
    separators = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    text = json.dumps(record, ensure_ascii=draw(st.booleans()), separators=separators)
    if raw_json is not None:
        text = text.replace(json.dumps(marker), raw_json)
    return text.encode("utf-8", "surrogatepass")

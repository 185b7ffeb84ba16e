"""Parsing and validation without AWS or PostgreSQL: the fast (jsonschema-rs) validators never
accept what python-jsonschema rejects, normalization, line splitting and gzip handling."""

from __future__ import annotations

import copy
import gzip
import json
import random
from datetime import UTC, datetime

import pytest

from functions.etl import parsing
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
)
from tests.etl.support import make_traffic

RECORDS = make_traffic(seed=5, start=datetime(2026, 11, 20, tzinfo=UTC), sessions=40,
                       spread=__import__("datetime").timedelta(hours=2))


def split(record: dict) -> tuple[dict, dict]:
    return ({k: v for k, v in record.items() if k not in ENRICHMENT_FIELDS},
            {k: v for k, v in record.items() if k in ENRICHMENT_FIELDS})


def row_field(row: bytes, column: str) -> str:
    return row.decode().rstrip("\n").split("\t")[parsing.COLUMNS.index(column)]


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
    assert len(fields) == len(parsing.COLUMNS)
    assert fields[parsing.COLUMNS.index("page_title")] == "a\\tb\\nc\\\\d"


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

"""parsing.py without AWS or PostgreSQL: line framing, gzip, the reject reasons, the JSON and
validation policy of both paths."""

from __future__ import annotations

import copy
import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest

from functions import event_time
from functions.etl import parsing
from functions.etl.parsing import (
    MAX_LINE_BYTES,
    ObjectParse,
    iter_raw_lines,
    parse_line,
    parse_object,
)
from functions.etl.rows import COLUMNS
from functions.etl.values import RejectedLine
from functions.schemas import FAST_ENRICHMENT_VALIDATOR, FAST_EVENT_VALIDATOR
from tests.etl.lines import RECORDS, bench_lines, line, mutated_lines, split


def row_field(row: bytes, column: str) -> str:
    return row.decode().rstrip("\n").split("\t")[COLUMNS.index(column)]


def event_timestamp(row: bytes) -> datetime:
    return datetime.fromisoformat(row_field(row, "event_timestamp"))


def test_schema_valid_oddities_load():
    event = dict(RECORDS[0], event_timestamp=1_763_632_800_000.0,   # an integral float is an integer
                 received_at="2025-11-20T10:00:01Z")
    expected = datetime(2025, 11, 20, 10, 0, tzinfo=UTC)
    assert event_timestamp(parse_line(json.dumps(event).encode(), "k")) == expected
    leap = dict(RECORDS[0], event_timestamp="2026-12-31T23:59:60Z", received_at="2027-01-01T00:00:01Z")
    assert event_timestamp(parse_line(json.dumps(leap).encode(), "k")) == datetime(2027, 1, 1, tzinfo=UTC)
    big = dict(RECORDS[0], properties={"big": 10**40})   # beyond what jsonschema-rs holds: python decides
    assert json.loads(row_field(parse_line(json.dumps(big).encode(), "k"), "properties")) == {"big": 10**40}


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"a": 1', "not valid JSON"),
    (b'"just a string"', "not a JSON object but a JSON str"),
    (b'{"x": Infinity}', "Infinity is not a JSON number"),
    (b'{"x": -1e400}', r"number out of range: -1e400 \(a double's range ends near 1.8e308\)"),
    (b'{"event_id": "a\\u0000b"}', "NUL character"),
])
def test_reasons_name_the_problem(raw, reason):
    with pytest.raises(RejectedLine, match=reason):
        parse_line(raw, "k")


def test_missing_enrichment_is_rejected_by_name():
    record = dict(RECORDS[0])
    del record["received_at"]
    with pytest.raises(RejectedLine, match="received_at"):
        parse_line(json.dumps(record).encode(), "k")


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
    assert rows == [exact(raw, "k") for raw in lines]


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


@pytest.mark.parametrize(("offset", "word"), [(timedelta(minutes=11), "ahead"),
                                              (-timedelta(days=8), "behind")])
def test_event_timestamp_outside_the_window_is_a_reject_naming_the_field(offset, word):
    received = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    record = dict(RECORDS[0], received_at="2026-11-20T10:00:00.000Z",
                  event_timestamp=(received + offset).isoformat().replace("+00:00", "Z"))
    for raw in (json.dumps(record).encode(), line(record)):
        with pytest.raises(RejectedLine, match=rf"^event_timestamp: .* {word} (of )?received_at"):
            parse_line(raw, "k")          # the fast path declines, the exact path rejects
        with pytest.raises(RejectedLine, match=rf"^event_timestamp: .* {word} (of )?received_at"):
            parsing.exact_row(raw, "k")
    epoch = dict(record, event_timestamp=int((received + offset).timestamp() * 1000))
    result = ObjectParse()
    body = json.dumps(record).encode() + b"\n" + json.dumps(epoch).encode() + b"\n" + line(RECORDS[0])
    list(parse_object(iter([body]), "k", False, result))
    assert [(r.line, r.reason.split(":")[0]) for r in result.rejects] == [(1, "event_timestamp"),
                                                                         (2, "event_timestamp")]
    assert result.events == 1


def test_the_window_is_configurable(monkeypatch):
    record = dict(RECORDS[0], received_at="2026-11-20T10:00:00.000Z", event_timestamp="2026-11-20T10:05:00Z")
    raw = json.dumps(record).encode()
    assert parse_line(raw, "k")
    monkeypatch.setattr(event_time, "WINDOW", event_time.EventTimeWindow(max_ahead=timedelta(minutes=1)))
    with pytest.raises(RejectedLine, match="EVENT_TIME_MAX_AHEAD_SECONDS"):
        parse_line(raw, "k")

"""rows.py: the one column table and the row functions built from it.

The fast path (orjson, one validator call, the row function generated from ROW_SPEC) is proven
against the exact path (stdlib json, the split validators, ``rows.normalize``, the loop over the
same table): for every line, parse_line gives exactly the row or reason exact_row gives, over a
corpus of odd values and mutants and over lines hypothesis makes up.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from functions import event_time
from functions.etl import parsing, rows
from functions.etl.parsing import parse_line
from functions.etl.rows import (
    COLUMNS,
    OBJECT_KEY,
    ROW_SPEC,
    Column,
    check_spec,
    compile_fast_row,
    exact_row_function,
    fast_row_source,
)
from functions.etl.values import FLAG, TEXT, RejectedLine
from tests.etl.lines import (
    KEYS,
    RECORDS,
    bench_lines,
    byte_mutants,
    edge_case_lines,
    line,
    mutated_lines,
    outcome,
    raw_lines,
)


def row_field(row: bytes, column: str) -> str:
    return row.decode().rstrip("\n").split("\t")[COLUMNS.index(column)]


EXACT_ROW = parsing.exact_row


@pytest.fixture
def answers(monkeypatch):
    """answers(raw, key): parse_line's outcome, and whether the fast path gave it (the exact
    path was not asked); exact(raw, key): the exact path's outcome."""
    calls = []

    def counted(raw: bytes, key: str) -> bytes:
        calls.append(raw)
        return EXACT_ROW(raw, key)

    monkeypatch.setattr(parsing, "exact_row", counted)

    def answer(raw: bytes, key: str) -> tuple[tuple, bool]:
        before = len(calls)
        result = outcome(parse_line, raw, key)
        return result, len(calls) == before

    return answer


def test_copy_row_escapes_tabs_newlines_and_backslashes():
    record = copy.deepcopy(RECORDS[0])
    record["page"]["title"] = "a\tb\nc\\d"
    row = parse_line(json.dumps(record).encode(), "k")
    fields = row.decode().rstrip("\n").split("\t")
    assert len(fields) == len(COLUMNS)
    assert fields[COLUMNS.index("page_title")] == "a\\tb\\nc\\\\d"


def test_parse_line_gives_the_exact_paths_row_or_reason_for_every_line(answers):
    bench = bench_lines(3000)
    traffic = [line(r) for r in RECORDS]
    lines = bench + traffic + edge_case_lines() + mutated_lines() + byte_mutants(bench[:200] + traffic, 1500)
    kinds: dict[str, int] = {}
    fast_rows = 0
    for raw in lines:
        for key in KEYS:
            expected = outcome(EXACT_ROW, raw, key)
            got, by_fast_path = answers(raw, key)
            assert got == expected, (raw[:300], key)
            fast_rows += by_fast_path
        kinds[expected[0]] = kinds.get(expected[0], 0) + 1
    # The corpus exercises rows and rejects alike and most rows take the fast path (so the
    # comparison can fail either way); no line raises anything but a reject.
    assert kinds["row"] > 4000 and kinds["reject"] > 2000 and "error" not in kinds, kinds
    assert fast_rows > 3 * 4000


@pytest.mark.parametrize("window", ["default", "wide"])
def test_the_fast_path_gives_the_exact_paths_row_for_any_line(answers, monkeypatch, window):
    """Generated events: whitespace, blank strings, backslashes, control characters, unicode and
    lone surrogates, numbers of any size (1e16, 1e400, 2**64, integral floats as quantities),
    epoch-ms and offset timestamps, leap seconds, nesting up to 1100 deep, missing and odd fields.

    The generated event_timestamp and received_at are independent, so with the default event
    time window most valid lines are rejects; with a window of ten thousand years they are rows."""
    if window == "wide":
        monkeypatch.setattr(event_time, "WINDOW", event_time.EventTimeWindow(timedelta(days=3_650_000),
                                                                             timedelta(days=3_650_000)))
    seen: dict[str, int] = {}

    @settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(raw=raw_lines(), key=st.sampled_from(KEYS))
    def same_answer(raw: bytes, key: str) -> None:
        expected = outcome(EXACT_ROW, raw, key)
        got, by_fast_path = answers(raw, key)
        assert got == expected
        assert expected[0] != "error"
        kind = f"{expected[0]}{' by the fast path' if by_fast_path else ''}"
        seen[kind] = seen.get(kind, 0) + 1
        event(kind)

    same_answer()
    if window == "default":
        return
    # Not vacuous: the lines give rows by either path, and rejects.
    assert min(seen.get(k, 0) for k in ("row by the fast path", "row", "reject")) >= 10, seen


def test_the_fast_row_functions_are_generated_from_the_table():
    source, _ = fast_row_source(ROW_SPEC, plain=True)
    assert source.startswith("def plain_row(e, source_key, raw):")
    for column in ROW_SPEC:
        if isinstance(column.read, str):
            assert repr(column.read.split(".")[-1]) in source, column
    escaped, _ = fast_row_source(ROW_SPEC, plain=False)
    assert "_v.strip() or N" in source and "_v.strip() or N" not in escaped     # escaping only there


def spec_with(*extra: Column) -> tuple[Column, ...]:
    return (*ROW_SPEC, *extra)


def test_a_new_column_is_one_entry_in_the_table():
    """A column read from the line, and one computed from the whole record (as a device type
    from the user agent will be): both paths carry them, the fast one escaping a computed value
    even on a line without a backslash."""
    def computed(record: dict) -> str | None:
        agent = record.get("user_agent")
        return None if agent is None else f"{agent.split('/')[0]}\t\\"    # COPY must escape these

    spec = spec_with(Column("page_title_again", "page.title", TEXT), Column("agent_family", computed, TEXT),
                     Column("first_visit_again", "is_first_visit", FLAG))
    normalize, plain = exact_row_function(spec), compile_fast_row(spec, plain=True)
    record = copy.deepcopy(RECORDS[0])
    raw = line(record)
    assert b"\\" not in raw
    fast = plain(orjson.loads(raw), "k", raw)
    assert fast == normalize(json.loads(raw), "k")
    fields = fast.decode().rstrip("\n").split("\t")
    assert len(fields) == len(ROW_SPEC) + 3
    first_visit = "t" if record["is_first_visit"] else "f"
    assert fields[-3:] == [record["page"]["title"], "Mozilla\\t\\\\", first_visit]


def test_a_spec_the_row_functions_cannot_be_built_from_names_the_column():
    with pytest.raises(ValueError, match="column 'event_id' is in the row spec twice"):
        check_spec(spec_with(Column("event_id", "event_id", TEXT)))
    with pytest.raises(ValueError, match="column 'bad name': not an SQL identifier"):
        check_spec(spec_with(Column("bad name", "x", TEXT)))
    with pytest.raises(ValueError, match=r"column 'x': format 'text' is not a values\.Format"):
        check_spec(spec_with(Column("x", "x", "text")))
    with pytest.raises(ValueError, match=r"column 'x': 'a\.\.b' is not a dotted path"):
        check_spec(spec_with(Column("x", "a..b", TEXT)))
    with pytest.raises(ValueError, match="column 'x': read 3 is not a path"):
        check_spec(spec_with(Column("x", 3, TEXT)))


def test_the_object_key_column_is_the_key_of_each_line():
    raw = line(RECORDS[0])
    assert [c.name for c in ROW_SPEC if c.read is OBJECT_KEY] == ["source_key"]
    for key in KEYS:
        assert row_field(parse_line(raw, key), "source_key") == rows.normalize(json.loads(raw), key).decode(
        ).rstrip("\n").split("\t")[-1]
    assert row_field(parse_line(raw, " spaced\tkey\\ "), "source_key") == "spaced\\tkey\\\\"


def test_a_lone_surrogate_is_a_reject_on_either_path():
    raw = line(dict(RECORDS[0], user_agent="\ud800"), ensure_ascii=True)
    with pytest.raises(RejectedLine, match="invalid Unicode: a lone surrogate escape"):
        parse_line(raw, "k")

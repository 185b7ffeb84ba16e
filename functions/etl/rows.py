"""The warehouse row of one raw line: ROW_SPEC, one table of columns, drives every path.

A column is its name in clickstream_events, how its value is read from the line's record (the
client's event with ingest's enrichment fields: a dotted path, or a function of the whole
record) or the object's key (OBJECT_KEY), and its Format (``values``: how the value is
normalized and written as COPY text). From the table come:

- ``COLUMNS``: the COPY order, and the column lists of the batch SQL (``batch``);
- ``normalize``: the exact path, a loop over the table;
- ``PLAIN_ROW`` and ``ESCAPED_ROW``: the fast path, one function for lines without a backslash
  and one for the rest, generated from the table at import as Python source and compiled once
  (as dataclasses and attrs do), so it reads each value inline, once, without a call per
  field. A fast row function returns the row ``normalize`` gives, or raises: the line then
  takes the exact path (``parsing``), which alone decides every reject.

Adding a column is one line in ROW_SPEC plus the migration that adds it to clickstream_events
(see docs/warehouse-etl.md).
"""

from __future__ import annotations

import linecache
from collections.abc import Callable
from typing import Any, NamedTuple

from functions.etl import enrich
from functions.etl.values import (
    AS_IS,
    COPY_TEXT,
    EVENT_TIME,
    FLAG,
    JSON,
    NULL,
    NUMBER,
    ORDER_ITEMS,
    REQUIRED_TEXT,
    TEXT,
    UUID_TEXT,
    Format,
    RejectedLine,
)

_EMPTY: dict = {}     # what a missing object reads as; never written to


class _ObjectKey:
    def __repr__(self) -> str:
        return "OBJECT_KEY"


#: The reader of a column holding the raw object's key (not a value of the line).
OBJECT_KEY = _ObjectKey()


class Derived(NamedTuple):
    """Item ``index`` of what ``source(record)`` returns: several columns from one call per line
    (the fast row calls each source once; the exact path calls it per column)."""

    source: Callable[[dict], tuple]
    index: int

    def __call__(self, record: dict) -> Any:
        return self.source(record)[self.index]


def derived(source: Callable[[dict], tuple], count: int) -> tuple[Derived, ...]:
    """The readers of the ``count`` items of ``source``'s tuple, in order."""
    return tuple(Derived(source, index) for index in range(count))


class Column(NamedTuple):
    name: str
    #: "a.b.c" (the value at that path, None when any step is missing), a function of the whole
    #: record (a Derived item among them), or OBJECT_KEY
    read: str | Callable[[dict], Any] | _ObjectKey
    format: Format


_AGENT = derived(enrich.agent_texts, len(enrich.AGENT_COLUMNS))
_CAMPAIGN = derived(enrich.campaign_texts, len(enrich.CAMPAIGN_COLUMNS))

ROW_SPEC: tuple[Column, ...] = (
    Column("event_id", "event_id", UUID_TEXT),
    Column("event_timestamp", "event_timestamp", EVENT_TIME),
    Column("event_name", "event_name", AS_IS),
    Column("user_id", "user_id", TEXT),
    Column("user_login_state", "user_login_state", AS_IS),
    Column("identity_source", "identity_source", TEXT),
    Column("client_id", "client_id", REQUIRED_TEXT),
    Column("session_id", "session_id", REQUIRED_TEXT),
    Column("is_first_visit", "is_first_visit", FLAG),
    Column("context_product_id", "context.product.id", TEXT),
    Column("context_product_name", "context.product.name", TEXT),
    Column("context_product_category", "context.product.category", TEXT),
    Column("context_product_brand", "context.product.brand", TEXT),
    Column("context_product_price", "context.product.price", NUMBER),
    Column("context_product_discount_price", "context.product.discount_price", NUMBER),
    Column("context_product_url_path", "context.product.url_path", TEXT),
    Column("page_url", "page.url", TEXT),
    Column("page_path", "page.path", TEXT),
    Column("page_title", "page.title", TEXT),
    Column("page_referrer", "page.referrer", TEXT),
    Column("order_id", "context.order.order_id", TEXT),
    Column("order_revenue", "context.order.revenue", NUMBER),
    Column("order_currency", "context.order.currency", TEXT),   # text: "USD\n" passes python's "$"
    Column("order_items", "context.order", ORDER_ITEMS),
    Column("properties", "properties", JSON),
    Column("received_at", "received_at", EVENT_TIME),
    Column("ingest_request_id", "ingest_request_id", TEXT),
    Column("source_ip", "source_ip", TEXT),
    Column("user_agent", "user_agent", TEXT),
    # enrichment (functions.etl.enrich): COPY texts cached per distinct agent, URL and referrer
    Column("is_bot", _AGENT[0], COPY_TEXT),
    Column("bot_reason", _AGENT[1], COPY_TEXT),
    Column("device_type", _AGENT[2], COPY_TEXT),
    Column("browser_family", _AGENT[3], COPY_TEXT),
    Column("browser_major", _AGENT[4], COPY_TEXT),
    Column("os_family", _AGENT[5], COPY_TEXT),
    Column("country", enrich.country_text, COPY_TEXT),
    Column("utm_source", _CAMPAIGN[0], COPY_TEXT),
    Column("utm_medium", _CAMPAIGN[1], COPY_TEXT),
    Column("utm_campaign", _CAMPAIGN[2], COPY_TEXT),
    Column("utm_term", _CAMPAIGN[3], COPY_TEXT),
    Column("utm_content", _CAMPAIGN[4], COPY_TEXT),
    Column("click_id_type", _CAMPAIGN[5], COPY_TEXT),
    Column("referrer_host", enrich.referrer_host_text, COPY_TEXT),
    Column("source_key", OBJECT_KEY, TEXT),
)


def _path(column: Column) -> tuple[str, ...] | None:
    return tuple(column.read.split(".")) if isinstance(column.read, str) else None


def _label(column: Column) -> str:
    """How a reject names the column's value: its path in the line, else the column."""
    return column.read if isinstance(column.read, str) else column.name


def check_spec(spec: tuple[Column, ...]) -> None:
    """A spec the row functions can be built from, or ValueError naming the column at fault."""
    names = [c.name for c in spec]
    for column in spec:
        if names.count(column.name) > 1:
            raise ValueError(f"column {column.name!r} is in the row spec twice")
        if not column.name.isidentifier():
            raise ValueError(f"column {column.name!r}: not an SQL identifier the batch SQL can use")
        if not isinstance(column.format, Format):
            raise ValueError(f"column {column.name!r}: format {column.format!r} is not a values.Format")
        path = _path(column)
        if path is not None and not all(step.isidentifier() or step.isalnum() for step in path):
            raise ValueError(f"column {column.name!r}: {column.read!r} is not a dotted path")
        if path is None and column.read is not OBJECT_KEY and not callable(column.read):
            raise ValueError(f"column {column.name!r}: read {column.read!r} is not a path, a function"
                             " or OBJECT_KEY")


# ---------------------------------------------------------------- the exact path

def _exact_reader(column: Column) -> Callable[[dict, str], Any]:
    if column.read is OBJECT_KEY:
        return lambda _record, key: key
    path = _path(column)
    if path is None:
        function = column.read
        return lambda record, _key: function(record)
    *parents, last = path

    def read(record: dict, _key: str):
        node = record
        for step in parents:
            node = node.get(step) or _EMPTY
        return node.get(last)

    return read


def exact_row_function(spec: tuple[Column, ...]) -> Callable[[dict, str], bytes]:
    """The row of a valid record, a loop over ``spec``: the reference every fast row must equal."""
    check_spec(spec)
    steps = tuple((_exact_reader(c), c.format.exact, _label(c)) for c in spec)

    def normalize(record: dict, source_key: str) -> bytes:
        """A valid record (event and enrichment fields) -> its COPY row; RejectedLine with the reason."""
        text = "\t".join([exact(read(record, source_key), label) for read, exact, label in steps])
        try:
            return (text + "\n").encode("utf-8")
        except UnicodeEncodeError:
            raise RejectedLine("invalid Unicode: a lone surrogate escape in a string") from None

    return normalize


# ---------------------------------------------------------------- the fast path, generated

def _missing_text(column: Column) -> str | None:
    """What the column is when its value is absent, if that is a constant text (not a reject)."""
    try:
        text = column.format.exact(None, _label(column))
    except Exception:
        return None
    return text if isinstance(text, str) else None


class _ObjectKeyTexts(dict):
    """The object key column's text per key (plus ``end``), formatted on first use (a few hundred kept)."""

    def __init__(self, exact: Callable[[Any, str], str], label: str, end: str):
        super().__init__()
        self._exact, self._label, self._end = exact, label, end

    def __missing__(self, key: str) -> str:
        if len(self) >= 256:
            self.clear()
        text = self[key] = self._exact(key, self._label) + self._end
        return text


class _RowSource:
    """Writes the source of one fast row function for a spec (see fast_row_source)."""

    def __init__(self, spec: tuple[Column, ...], plain: bool):
        self.spec, self.plain = spec, plain
        self.namespace: dict[str, object] = {"N": NULL, "_EMPTY": _EMPTY}
        self.objects: dict[tuple[str, ...], str] = {}
        self.sources: dict[int, str] = {}
        self.prelude: list[str] = []

    def obj(self, path: tuple[str, ...]) -> str:
        """The local holding the object at ``path`` (``_EMPTY`` when absent), looked up once."""
        if not path:
            return "e"
        if path not in self.objects:
            outer = self.obj(path[:-1])
            self.objects[path] = name = f"_o{len(self.objects)}"
            self.prelude.append(f"    {name} = {outer}.get({path[-1]!r}) or _EMPTY")
        return self.objects[path]

    def source_value(self, source: Callable[[dict], tuple]) -> str:
        """The local holding ``source(e)``, called once per line."""
        if id(source) not in self.sources:
            self.sources[id(source)] = name = f"_s{len(self.sources)}"
            self.namespace[f"{name}_of"] = source
            self.prelude.append(f"    {name} = {name}_of(e)")
        return self.sources[id(source)]

    def expression(self, index: int, column: Column) -> str:
        fmt = column.format
        for name, helper in fmt.helpers.items():
            if self.namespace.setdefault(name, helper) is not helper:
                raise ValueError(f"format {fmt.name!r}: helper name {name!r} is taken by another format")
        path = _path(column)
        if column.read is OBJECT_KEY:   # the same for every line of an object: formatted once
            end = "\n" if index == len(self.spec) - 1 else ""    # the last column ends the line
            self.namespace["_object_key_text"] = _ObjectKeyTexts(fmt.exact, _label(column), end)
            return "_object_key_text[source_key]"
        if isinstance(column.read, Derived):
            value = f"{self.source_value(column.read.source)}[{column.read.index}]"
        elif path is None:
            value = f"_read{index}(e)"
            self.namespace[f"_read{index}"] = column.read
        elif _missing_text(column) is None:   # never absent in a valid line: a KeyError declines
            value = f"{self.obj(path[:-1])}[{path[-1]!r}]"
        else:
            value = f"{self.obj(path[:-1])}.get({path[-1]!r})"
        template = fmt.plain if self.plain and path is not None and fmt.plain else fmt.fast
        return template.format(v=value, label=repr(_label(column)))

    def fields(self) -> list[str]:
        """One expression per column; a run of columns of one nested object as one starred item."""
        def parent(column: Column) -> tuple[str, ...] | None:
            path = _path(column)
            return path[:-1] if path and len(path) > 1 and _missing_text(column) is not None else None

        spec, fields, index = self.spec, [], 0
        while index < len(spec):
            group, end = parent(spec[index]), index + 1
            while group and end < len(spec) and parent(spec[end]) == group:
                end += 1
            exprs = [self.expression(i, spec[i]) for i in range(index, end)]
            if end - index > 1:
                absent = f"_absent{index}"
                self.namespace[absent] = tuple(_missing_text(c) for c in spec[index:end])
                items = "".join(f"            {e},\n" for e in exprs)
                fields.append(f"*((\n{items}        ) if {self.obj(group)} else {absent})")
            else:
                fields.append(exprs[0])
            index = end
        return fields

    def source(self) -> str:
        body = ",\n        ".join(self.fields())
        line = f'"\\t".join([\n        {body},\n    ])'
        if self.spec[-1].read is not OBJECT_KEY:      # else the key's cached text ends the line
            line = f'({line} + "\\n")'
        name = "plain_row" if self.plain else "escaped_row"
        prelude = "".join(f"{statement}\n" for statement in self.prelude)
        return f"def {name}(e, source_key, raw):\n{prelude}    return {line}.encode()\n"


def fast_row_source(spec: tuple[Column, ...], *, plain: bool) -> tuple[str, dict]:
    """Source of ``row(e, source_key, raw) -> bytes`` for ``spec``, and the names it uses.

    ``plain``: for lines without a backslash, where a value read from the line needs no COPY
    escaping (a value computed by a function, or the object key, is escaped all the same).
    Each nested object on a path is looked up once; a run of columns read from the same object
    is one constant tuple when that object is absent (as a page view has no product); a value
    that a valid line always has is read by subscript (a KeyError only declines the line).
    """
    check_spec(spec)
    writer = _RowSource(spec, plain)
    return writer.source(), writer.namespace


def compile_fast_row(spec: tuple[Column, ...], *, plain: bool) -> Callable[[dict, str, bytes], bytes]:
    """``fast_row_source`` compiled; tracebacks and profilers show its generated lines."""
    source, namespace = fast_row_source(spec, plain=plain)
    filename = f"<functions.etl.rows: {'plain' if plain else 'escaped'} row of {len(spec)} columns>"
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - source generated from ROW_SPEC
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    return namespace["plain_row" if plain else "escaped_row"]


COLUMNS: tuple[str, ...] = tuple(c.name for c in ROW_SPEC)
normalize = exact_row_function(ROW_SPEC)
PLAIN_ROW = compile_fast_row(ROW_SPEC, plain=True)
ESCAPED_ROW = compile_fast_row(ROW_SPEC, plain=False)

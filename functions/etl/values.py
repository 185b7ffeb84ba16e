"""How one value of a raw line is normalized and written as COPY text: the column formats.

A ``Format`` says it twice. ``exact`` is a function (value -> COPY text, or RejectedLine naming
the field): what ``rows.normalize`` calls, the reference. ``fast`` is a Python expression the
fast row functions are generated from (``rows``); it gives the same text or raises, and any
exception there only sends the line to the exact path, which alone decides every reject.

COPY text: ``\\N`` is NULL, and a backslash, tab, newline or carriage return in a value is
escaped. A string read from a line without any backslash cannot hold one of those (JSON must
escape them), so ``plain``, where a format has it, is its fast expression for such a value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

NULL = "\\N"


class RejectedLine(ValueError):
    """A line that cannot become a row; the message is the reason stored in etl_rejects."""


class FastPathDeclines(Exception):
    """The fast path leaves this line to the exact path (see _number)."""


# ---------------------------------------------------------------- event timestamps

def parse_event_time(value, field_name: str) -> datetime:
    """An event's RFC 3339 timestamp (any offset, up to 9 fraction digits, leap second) or epoch
    milliseconds -> aware UTC datetime; RejectedLine naming ``field_name`` otherwise."""
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


def event_time_text(value, field_name: str) -> str:
    """``parse_event_time(value, field_name).isoformat()``, cheaply for "YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z".

    Of that exact shape, one that fromisoformat accepts (a real date, hour < 24, second < 60) has
    the canonical form: its first 19 characters, the fraction padded to 6 digits unless it is 0,
    "+00:00". Any other value (offsets, lowercase, a space, 7+ fraction digits, leap second, epoch
    ms, an error) takes parse_event_time.
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
    return parse_event_time(value, field_name).isoformat()


# ---------------------------------------------------------------- text, numbers, JSON

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(v) -> str:
    """A trimmed string as a COPY text field (escaped); None or blank -> NULL."""
    if v is None:
        return NULL
    v = v.strip()
    if not v:
        return NULL
    if "\\" in v or "\t" in v or "\n" in v or "\r" in v:
        return v.translate(_COPY_ESCAPES)
    return v


def _decline():
    raise FastPathDeclines


def _required_text(v, field_name: str) -> str:
    text = v.strip() if v is not None else ""
    if not text:
        raise RejectedLine(f"{field_name}: blank after trimming whitespace")
    return copy_text(text)


#: json.dumps(v, ensure_ascii=False, separators=(",", ":")), without building an encoder per call.
_JSON_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def copy_json(v) -> str:
    """A JSON value as compact JSON in a COPY text field; None -> NULL."""
    if v is None:
        return NULL
    return _JSON_ENCODE(v).translate(_COPY_ESCAPES)


def _number(v) -> str:
    """repr of a number (the shortest exact round-trip form; PostgreSQL numeric reads it exactly).

    On the fast path, any text with "e+" declines: the stdlib reads an integer beyond 64 bits
    exactly, orjson as a float, and a number of magnitude 1e16 or more is where they may differ.
    """
    text = repr(v)
    if "e+" in text:
        raise FastPathDeclines
    return text


#: orjson reads nesting up to 1024 levels, the stdlib decoder (and encoder) recurse once a level.
_DEEP_LINE_BYTES = 1000         # nesting depth 500 needs at least 1000 bytes of brackets
_DEEP_OPENERS = 500


def may_nest_too_deep(raw: bytes) -> bool:
    """Whether the line has enough brackets to nest past what the stdlib decoder can read."""
    return len(raw) >= _DEEP_LINE_BYTES and raw.count(b"[") + raw.count(b"{") >= _DEEP_OPENERS


def _fast_json(v, raw: bytes) -> str:
    """copy_json on the fast path: declines a line that may nest too deep for the exact path
    (which must then reject it) and numbers as _number does."""
    if may_nest_too_deep(raw):
        raise FastPathDeclines
    text = copy_json(v)
    if "e+" in text:
        raise FastPathDeclines
    return text


# ---------------------------------------------------------------- order items

#: An order item's quantity is counted as a PostgreSQL integer (jsonb_to_recordset, units).
MAX_QUANTITY = 2**31 - 1


def counted_items(order: dict) -> list:
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


# ---------------------------------------------------------------- the formats

@dataclass(frozen=True)
class Format:
    """How a column's value is normalized and written as COPY text.

    ``exact(value, field_name)``: the text, or RejectedLine naming ``field_name``.
    ``fast``: an expression of ``{v}`` (the value's expression) and ``{label}`` (the field name
    as a literal) that gives the same text or raises; it may use ``N`` (NULL), ``raw`` (the
    line's bytes) and the names in ``helpers``; ``_v`` is its scratch variable.
    ``plain``: the same for a value read from a line without a backslash (default: ``fast``).
    """

    name: str
    exact: Callable[[Any, str], str]
    fast: str
    plain: str | None = None
    helpers: Mapping[str, object] = field(default_factory=dict)


#: Free text: trimmed, blank -> NULL, escaped.
TEXT = Format("text", lambda v, _: copy_text(v), "_text({v})",
              plain="(N if (_v := {v}) is None else (_v.strip() or N))", helpers={"_text": copy_text})
#: A value its reader already wrote as COPY text (an enrichment reader caches the text per
#: distinct input, so the row takes it as it is).
COPY_TEXT = Format("copy text", lambda v, _: v, "{v}")
#: Text that must not be blank after trimming (a reject naming the field otherwise).
REQUIRED_TEXT = Format("required text", _required_text, "_required_text({v}, {label})",
                       plain="({v}.strip() or _decline())",
                       helpers={"_required_text": _required_text, "_decline": _decline})
#: A UUID: trimmed and lowercase (its pattern in the contract leaves nothing to escape).
UUID_TEXT = Format("uuid", lambda v, _: v.strip().lower(), "{v}.strip().lower()")
#: Written as it is: the contract allows only characters COPY takes as they are (an enum, or a
#: pattern without whitespace or backslash).
AS_IS = Format("as is", lambda v, _: v, "{v}")
#: A boolean, absent = false.
FLAG = Format("flag", lambda v, _: "t" if v else "f", '("t" if {v} else "f")')
#: A JSON number as exact decimal text.
NUMBER = Format("number", lambda v, _: NULL if v is None else repr(v),
                "(N if (_v := {v}) is None else _number(_v))", helpers={"_number": _number})
#: A JSON value (object or array) as compact JSON.
JSON = Format("json", lambda v, _: copy_json(v), "(N if (_v := {v}) is None else _fast_json(_v, raw))",
              helpers={"_fast_json": _fast_json})
#: An order (the object): its items as JSON, each quantity counted as an integer
#: (``counted_items``); no order -> NULL, an order without items -> [].
ORDER_ITEMS = Format("order items", lambda v, _: NULL if v is None else copy_json(counted_items(v)),
                     "(N if (_v := {v}) is None else _fast_json(_counted_items(_v), raw))",
                     helpers={"_fast_json": _fast_json, "_counted_items": counted_items})
#: An event time (RFC 3339 or epoch ms) as the ISO text of the UTC instant.
EVENT_TIME = Format("event time", event_time_text, "_event_time_text({v}, {label})",
                    helpers={"_event_time_text": event_time_text})

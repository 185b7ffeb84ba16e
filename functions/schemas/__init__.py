"""The clickstream event contract (v1) as JSON Schema, shared by ingest and the ETL.

Validators are compiled once, at import, not per request. Two implementations of draft 2020-12
read the same file:

- jsonschema-rs (``FAST_EVENT_VALIDATOR``, ``FAST_ENRICHMENT_VALIDATOR``): compiled Rust, about
  100 times faster, answers yes/no for every event on the hot paths.
- python-jsonschema (``EVENT_VALIDATOR``, ``ENRICHMENT_VALIDATOR``, ``first_error``): names the
  field and rule of an invalid event. It is imported on first use only (module ``__getattr__``),
  which keeps it off ingest's cold start.

``validate_event`` / ``validate_enrichment`` combine them. Where the two disagree the stricter
answer wins: python's ``re`` lets ``$`` match before a final newline, ECMA-262 (what JSON Schema
specifies, and jsonschema-rs follows) does not.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema_rs

#: The contract's version: its file is clickstream-event.v<N>.json.
SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name(f"clickstream-event.v{SCHEMA_VERSION}.json")
EVENT_SCHEMA: dict = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
ENRICHMENT_SCHEMA: dict = EVENT_SCHEMA["$defs"]["enrichment"]

#: Validates one event as the client sends it (yes/no; raises ValueError/TypeError/OverflowError
#: on values Rust cannot represent, such as integers beyond 64 bits).
FAST_EVENT_VALIDATOR = jsonschema_rs.Draft202012Validator(EVENT_SCHEMA)
#: Validates the fields ingest adds to each event in the raw object (yes/no).
FAST_ENRICHMENT_VALIDATOR = jsonschema_rs.Draft202012Validator(ENRICHMENT_SCHEMA)
#: The names of those fields, to split a raw line into (event, enrichment).
ENRICHMENT_FIELDS = frozenset(ENRICHMENT_SCHEMA["properties"])

_RUST_CANNOT_HOLD = (ValueError, TypeError, OverflowError)


@cache
def _python_validators() -> dict:
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - lazy, see the module docstring

    Draft202012Validator.check_schema(EVENT_SCHEMA)
    return {"EVENT_VALIDATOR": Draft202012Validator(EVENT_SCHEMA),
            "ENRICHMENT_VALIDATOR": Draft202012Validator(ENRICHMENT_SCHEMA)}


def __getattr__(name: str):
    """EVENT_VALIDATOR / ENRICHMENT_VALIDATOR (python-jsonschema), built on first access."""
    validators = _python_validators() if name in ("EVENT_VALIDATOR", "ENRICHMENT_VALIDATOR") else {}
    if name in validators:
        return validators[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def error_reason(error) -> str:
    """A reason naming the field and the rule, e.g. "event_name: does not match pattern ..."."""
    path = ".".join(str(p) for p in error.absolute_path) or "(event)"
    return f"{path}: {error.message} (rule: {error.validator})"


def first_error(validator, instance) -> str | None:
    """The most relevant error's reason (python-jsonschema), or None when the instance is valid."""
    from jsonschema.exceptions import best_match  # noqa: PLC0415 - lazy, see the module docstring

    error = best_match(validator.iter_errors(instance))
    return None if error is None else error_reason(error)


def _validate(fast, python_name: str, instance) -> str | None:
    try:
        if fast.is_valid(instance):
            return None
        fast_says_invalid = True
    except _RUST_CANNOT_HOLD:   # e.g. an integer beyond 64 bits: python decides
        fast_says_invalid = False
    try:
        reason = first_error(_python_validators()[python_name], instance)
    except RecursionError:
        return "(event): nested too deeply (rule: type)"
    if reason is None and fast_says_invalid:   # only ECMA-262 refuses it (see the module docstring)
        error = next(iter(fast.iter_errors(instance)))
        path = ".".join(str(part) for part in error.instance_path) or "(event)"
        rule = error.schema_path[-1] if error.schema_path else "schema"
        reason = f"{path}: {error.message} (rule: {rule})"
    return reason


def validate_event(instance) -> str | None:
    """Why ``instance`` breaks the event schema (field and rule), or None when it is valid."""
    return _validate(FAST_EVENT_VALIDATOR, "EVENT_VALIDATOR", instance)


def validate_enrichment(instance) -> str | None:
    """Why ``instance`` breaks the enrichment schema (field and rule), or None when it is valid."""
    return _validate(FAST_ENRICHMENT_VALIDATOR, "ENRICHMENT_VALIDATOR", instance)

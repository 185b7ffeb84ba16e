"""The clickstream event contract as JSON Schema, one file per version, shared by ingest and the ETL.

Each event follows the version in its ``schema_version`` field (an event without it is version
1) and is validated against that version's file, ``clickstream-event.v<N>.json``; the versions
accepted are the files here (``ACCEPTED_VERSIONS``). An event of any other version is refused
with a reason naming its version. The fields ingest adds (the enrichment) are the newest
version's ``$defs/enrichment``. The contract check (tests/contract) replays the committed sample
raw objects of every accepted version, so a change that would refuse yesterday's events fails.

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

#: The version of an event without a ``schema_version`` field.
DEFAULT_VERSION = 1
SCHEMA_PATHS: dict[int, Path] = {
    int(path.name.removeprefix("clickstream-event.v").removesuffix(".json")): path
    for path in Path(__file__).parent.glob("clickstream-event.v*.json")}
ACCEPTED_VERSIONS: tuple[int, ...] = tuple(sorted(SCHEMA_PATHS))
EVENT_SCHEMAS: dict[int, dict] = {v: json.loads(SCHEMA_PATHS[v].read_text(encoding="utf-8"))
                                  for v in ACCEPTED_VERSIONS}
#: The newest version, and the schema of the events without the field (the hot paths' first try).
SCHEMA_VERSION = ACCEPTED_VERSIONS[-1]
EVENT_SCHEMA: dict = EVENT_SCHEMAS[DEFAULT_VERSION]
ENRICHMENT_SCHEMA: dict = EVENT_SCHEMAS[SCHEMA_VERSION]["$defs"]["enrichment"]

#: Validates one event of each version as the client sends it (yes/no; raises ValueError/
#: TypeError/OverflowError on values Rust cannot represent, such as integers beyond 64 bits).
FAST_EVENT_VALIDATORS = {v: jsonschema_rs.Draft202012Validator(schema) for v, schema in EVENT_SCHEMAS.items()}
#: The default version's: an event of another version fails it and goes to validate_event.
FAST_EVENT_VALIDATOR = FAST_EVENT_VALIDATORS[DEFAULT_VERSION]
#: Validates the fields ingest adds to each event in the raw object (yes/no).
FAST_ENRICHMENT_VALIDATOR = jsonschema_rs.Draft202012Validator(ENRICHMENT_SCHEMA)
#: The names of those fields, to split a raw line into (event, enrichment).
ENRICHMENT_FIELDS = frozenset(ENRICHMENT_SCHEMA["properties"])

_RUST_CANNOT_HOLD = (ValueError, TypeError, OverflowError)


@cache
def _python_validators() -> dict:
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - lazy, see the module docstring

    for schema in EVENT_SCHEMAS.values():
        Draft202012Validator.check_schema(schema)
    return {"EVENT_VALIDATORS": {v: Draft202012Validator(schema) for v, schema in EVENT_SCHEMAS.items()},
            "ENRICHMENT_VALIDATOR": Draft202012Validator(ENRICHMENT_SCHEMA)}


def __getattr__(name: str):
    """EVENT_VALIDATOR (the default version's) / EVENT_VALIDATORS / ENRICHMENT_VALIDATOR
    (python-jsonschema), built on first access."""
    if name == "EVENT_VALIDATOR":
        return _python_validators()["EVENT_VALIDATORS"][DEFAULT_VERSION]
    if name in ("EVENT_VALIDATORS", "ENRICHMENT_VALIDATOR"):
        return _python_validators()[name]
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


def version_error(instance) -> str | None:
    """Why ``instance``'s ``schema_version`` is not one this platform accepts, or None."""
    if type(instance) is not dict or "schema_version" not in instance:
        return None
    version = instance["schema_version"]
    # JSON numbers: 1.0 is 1 (as JSON Schema's const says); true is not.
    if type(version) in (int, float) and version in SCHEMA_PATHS:
        return None
    accepted = ", ".join(map(str, ACCEPTED_VERSIONS))
    shown = json.dumps(version, default=str)[:20]
    return f"schema_version: {shown} is not a contract version this platform accepts (accepted: {accepted})" \
           " (rule: version)"


def event_version(instance) -> int:
    """The contract version ``instance`` follows (call version_error first)."""
    return int(instance.get("schema_version", DEFAULT_VERSION)) if type(instance) is dict else DEFAULT_VERSION


def _validate(fast, python_validator, instance) -> str | None:
    """`fast` answers; `python_validator()` (lazy: see the module docstring) names the error."""
    try:
        if fast.is_valid(instance):
            return None
        fast_says_invalid = True
    except _RUST_CANNOT_HOLD:   # e.g. an integer beyond 64 bits: python decides
        fast_says_invalid = False
    try:
        reason = first_error(python_validator(), instance)
    except RecursionError:
        return "(event): nested too deeply (rule: type)"
    if reason is None and fast_says_invalid:   # only ECMA-262 refuses it (see the module docstring)
        error = next(iter(fast.iter_errors(instance)))
        path = ".".join(str(part) for part in error.instance_path) or "(event)"
        rule = error.schema_path[-1] if error.schema_path else "schema"
        reason = f"{path}: {error.message} (rule: {rule})"
    return reason


def validate_event(instance) -> str | None:
    """Why ``instance`` breaks the schema of its version (field and rule; or the version itself),
    or None when it is valid."""
    reason = version_error(instance)
    if reason:
        return reason
    version = event_version(instance)
    python = _python_validators
    return _validate(FAST_EVENT_VALIDATORS[version], lambda: python()["EVENT_VALIDATORS"][version], instance)


def validate_enrichment(instance) -> str | None:
    """Why ``instance`` breaks the enrichment schema (field and rule), or None when it is valid."""
    python = _python_validators
    return _validate(FAST_ENRICHMENT_VALIDATOR, lambda: python()["ENRICHMENT_VALIDATOR"], instance)

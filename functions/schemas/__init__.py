"""The clickstream event contract (v1) as JSON Schema, shared by ingest and the ETL.

Validators are compiled once, at import, not per request.
"""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("clickstream-event.v1.json")
EVENT_SCHEMA: dict = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
Draft202012Validator.check_schema(EVENT_SCHEMA)

#: Validates one event as the client sends it.
EVENT_VALIDATOR = Draft202012Validator(EVENT_SCHEMA)
#: Validates the fields ingest adds to each event in the raw object.
ENRICHMENT_VALIDATOR = Draft202012Validator(EVENT_SCHEMA["$defs"]["enrichment"])
#: The names of those fields, to split a raw line into (event, enrichment).
ENRICHMENT_FIELDS = frozenset(EVENT_SCHEMA["$defs"]["enrichment"]["properties"])


def error_reason(error) -> str:
    """A reason naming the field and the rule, e.g. "event_name: does not match pattern ..."."""
    path = ".".join(str(p) for p in error.absolute_path) or "(event)"
    return f"{path}: {error.message} (rule: {error.validator})"


def first_error(validator: Draft202012Validator, instance) -> str | None:
    """The most relevant error's reason, or None when the instance is valid."""
    error = best_match(validator.iter_errors(instance))
    return None if error is None else error_reason(error)

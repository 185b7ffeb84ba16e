"""Validate submitted events against the JSON Schema and turn the valid ones into raw lines.

The schema file in ``functions/schemas`` is the single source of truth; its
``validate_event`` answers with jsonschema-rs (compiled at import) and imports python-jsonschema
(the reasons) on the first invalid event only, which keeps it off the cold start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from functions import event_time
from functions.ingest.request import MAX_EVENT_BYTES
from functions.schemas import validate_event

#: Reasons quote client values; keep the 202/400 answer bounded.
MAX_REASON_CHARS = 300

# Compact, UTF-8 (not \u-escaped), and NaN/Infinity refused: the raw object is strict JSON.
_encode_event = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


@dataclass(slots=True)
class Batch:
    """The outcome for one request's events: raw lines of the valid ones, reasons for the rest."""

    lines: list[bytes] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return len(self.lines)


def _truncate(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 3] + "..."


def _encode(event: dict) -> tuple[bytes | None, str | None]:
    try:
        return _encode_event(event).encode("utf-8"), None
    except UnicodeEncodeError:  # before ValueError, its base class
        return None, "(event): contains a lone UTF-16 surrogate, which is not valid Unicode (rule: type)"
    except ValueError:
        return None, "(event): numbers must be finite (NaN and Infinity are not JSON) (rule: type)"
    except RecursionError:
        return None, "(event): nested too deeply (rule: type)"


def check_event(event) -> tuple[bytes | None, str | None]:
    """(compact UTF-8 JSON of a valid event, None) or (None, reason)."""
    if type(event) is not dict:
        return None, validate_event(event)
    encoded, reason = _encode(event)
    if encoded is not None and b"\\u0000" in encoded:
        # The ETL's rule (PostgreSQL text cannot hold NUL): refused here, not accepted and lost later.
        encoded, reason = None, ("(event): NUL character (\\u0000) in a string, which the warehouse "
                                 "cannot store (rule: nul)")
    if encoded is not None and len(encoded) > MAX_EVENT_BYTES:
        encoded, reason = None, (f"(event): {len(encoded)} bytes, over the {MAX_EVENT_BYTES}-byte "
                                 "event cap (rule: size)")
    if encoded is not None:
        reason = validate_event(event)
    return (encoded, None) if reason is None else (None, reason)


def enrichment_suffix(enrichment: dict) -> bytes:
    """The enrichment fields as the tail of a JSON object: ``,"received_at":...}``.

    A valid event is a non-empty JSON object without these keys (the schema forbids unknown
    keys), so ``encoded_event[:-1] + suffix`` is the event plus the enrichment, in one line.
    """
    return b"," + _encode_event(enrichment).encode("utf-8")[1:]


def build_batch(events: list, enrichment: dict) -> Batch:
    """Validate each event; the valid ones become raw lines (event + enrichment).

    A valid event's ``event_timestamp`` must also fall in the window around ``received_at``
    (functions.event_time), the rule the ETL applies again.
    """
    suffix = enrichment_suffix(enrichment)
    received_at = datetime.fromisoformat(enrichment["received_at"])
    batch = Batch()
    for index, event in enumerate(events):
        encoded, reason = check_event(event)
        if encoded is not None:
            reason = event_time.client_time_reason(event["event_timestamp"], received_at)
            if reason is not None:
                encoded = None
        if encoded is None:
            batch.rejected.append({"index": index, "reason": _truncate(reason or "(event): invalid")})
        else:
            batch.lines.append(encoded[:-1] + suffix)
    return batch


def to_json_lines(lines: list[bytes]) -> bytes:
    """One event a line, each line ending in a newline (JSON Lines)."""
    return b"\n".join(lines) + b"\n"

"""A run's window as the operator gives it: --since/--until of the CLI, or the manual Lambda
event's since/until; ISO 8601 with an offset, or a date. (Event timestamps are values.parse_event_time.)"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_instant(text: str, name: str) -> datetime:
    """ISO 8601 ('2026-11-21T10:00:00Z', '2026-11-21 10:00+07:00', '2026-11-21' = midnight UTC) -> UTC."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{name}: expected an ISO 8601 timestamp, got {text!r}")
    try:
        moment = datetime.fromisoformat(text.strip().upper())
    except ValueError:
        raise ValueError(f"{name}: not an ISO 8601 timestamp: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)   # a bare date/time is taken as UTC, like the key layout
    return moment.astimezone(UTC)


def parse_window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """(since, until) as UTC instants; (None, None) = the run's default window."""
    start = parse_instant(since, "since") if since is not None else None
    end = parse_instant(until, "until") if until is not None else None
    if start is not None and end is not None and end < start:
        raise ValueError(f"until ({until}) is before since ({since})")
    if start is None and end is not None:
        raise ValueError("until without since: give since too (or neither for the default window)")
    return start, end

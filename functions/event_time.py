"""The one rule for how far an event's client clock may be from its receive time.

An ``event_timestamp`` is the browser's clock; ``received_at`` is ingest's. A far-future
timestamp would put the event (and its session) in a day that has not happened yet, one from
weeks ago would reopen long-closed aggregates: both are refused, at ingest (the event is
rejected in the 202/400 answer) and again by the ETL (an etl_rejects row), with one reason.

The bounds come from the environment, read once at import (each function's own config):
``EVENT_TIME_MAX_AHEAD_SECONDS`` (default 600: ten minutes of clock skew) and
``EVENT_TIME_MAX_BEHIND_SECONDS`` (default 604800: seven days, longer than any browser keeps a
beacon queued). Both inclusive.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

AHEAD_ENV = "EVENT_TIME_MAX_AHEAD_SECONDS"
BEHIND_ENV = "EVENT_TIME_MAX_BEHIND_SECONDS"
DEFAULT_MAX_AHEAD = timedelta(minutes=10)
DEFAULT_MAX_BEHIND = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class EventTimeWindow:
    max_ahead: timedelta = DEFAULT_MAX_AHEAD
    max_behind: timedelta = DEFAULT_MAX_BEHIND

    def contains(self, event_time: datetime, received_at: datetime) -> bool:
        return -self.max_behind <= event_time - received_at <= self.max_ahead

    def reason(self, event_time: datetime, received_at: datetime) -> str | None:
        """None when ``event_time`` is inside the window around ``received_at``, else the reason
        (naming the field and the bound)."""
        offset = event_time - received_at
        if offset > self.max_ahead:
            return (f"event_timestamp: {_text(event_time)} is {_seconds(offset)} s ahead of received_at "
                    f"{_text(received_at)}, more than the {_seconds(self.max_ahead)} s allowed ({AHEAD_ENV})")
        if -offset > self.max_behind:
            return (f"event_timestamp: {_text(event_time)} is {_seconds(-offset)} s behind "
                    f"received_at {_text(received_at)}, more than the {_seconds(self.max_behind)} s "
                    f"allowed ({BEHIND_ENV})")
        return None


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _seconds(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return str(int(seconds)) if seconds == int(seconds) else f"{seconds:.3f}"


def _bound(environ, name: str, default: timedelta) -> timedelta:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        seconds = int(text)
    except ValueError:
        raise ValueError(f"{name}={text!r}: expected a whole number of seconds") from None
    if seconds < 0:
        raise ValueError(f"{name}={text!r}: must not be negative")
    return timedelta(seconds=seconds)


def window_from_env(environ=os.environ) -> EventTimeWindow:
    """The window the environment configures; ValueError naming a malformed variable."""
    return EventTimeWindow(_bound(environ, AHEAD_ENV, DEFAULT_MAX_AHEAD),
                           _bound(environ, BEHIND_ENV, DEFAULT_MAX_BEHIND))


#: The process's window (tests replace it).
WINDOW = window_from_env()


def parse_client_time(value) -> datetime | None:
    """An ``event_timestamp`` the contract admits (RFC 3339 with offset, leap second counted as
    the next second, or integer epoch milliseconds) as aware UTC; None when it is not one."""
    if type(value) is int or type(value) is float:   # the schema's integer admits 2.0
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if type(value) is not str:
        return None
    text = value.strip().upper()
    leap = len(text) > 19 and text[17:19] == "60"
    if leap:
        text = text[:17] + "59" + text[19:]
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            return None
        return parsed.astimezone(UTC) + timedelta(seconds=1 if leap else 0)
    except (ValueError, OverflowError):
        return None


def client_time_reason(event_timestamp, received_at: datetime,
                       window: EventTimeWindow | None = None) -> str | None:
    """The window's reason for a raw ``event_timestamp`` value (None: inside, or not a timestamp
    at all, which the schema reports)."""
    event_time = parse_client_time(event_timestamp)
    if event_time is None:
        return None
    return (window or WINDOW).reason(event_time, received_at)

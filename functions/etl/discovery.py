"""Which raw objects a run loads: the default window, and the listed objects the manifest lacks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from functions.etl.raw_bucket import RawObject


def default_window(last_loaded_hour: datetime | None, lookback_hours: int,
                   now: datetime) -> tuple[datetime | None, datetime]:
    """From the last loaded hour less the lookback to now; (None, now) = everything, on the first run."""
    if last_loaded_hour is None:
        return None, now
    return last_loaded_hour - timedelta(hours=lookback_hours), now


def new_objects(objects: Iterable[RawObject], loaded: Mapping[str, str]) -> list[RawObject]:
    """Objects whose key is not in the manifest with the same ETag, in key order."""
    return sorted((o for o in objects if loaded.get(o.key) != o.etag), key=lambda o: o.key)

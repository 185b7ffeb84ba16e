"""Which raw objects a run loads: keys under the window's hour prefixes, minus the manifest's."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

log = logging.getLogger(__name__)

PREFIX = "events/"
_KEY = re.compile(r"events/(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+")
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class RawObject:
    key: str
    etag: str
    size: int
    hour: datetime          # from the key's events/YYYY/MM/DD/HH/ prefix (UTC)


def key_hour(key: str) -> datetime | None:
    """The UTC hour a raw key belongs to, or None when the key is not in the events/ layout."""
    match = _KEY.fullmatch(key)
    if not match:
        return None
    try:
        return datetime(*map(int, match.groups()), tzinfo=UTC)
    except ValueError:
        return None


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_prefixes(since: datetime, until: datetime) -> list[str]:
    """events/YYYY/MM/DD/HH/ for every hour from since's to until's, both included."""
    hour, last = floor_hour(since), floor_hour(until)
    prefixes = []
    while hour <= last:
        prefixes.append(hour.strftime("events/%Y/%m/%d/%H/"))
        hour += HOUR
    return prefixes


def default_window(last_loaded_hour: datetime | None, lookback_hours: int,
                   now: datetime) -> tuple[datetime | None, datetime]:
    """From the last loaded hour less the lookback to now; (None, now) = everything, on the first run."""
    if last_loaded_hour is None:
        return None, now
    return last_loaded_hour - timedelta(hours=lookback_hours), now


def list_raw_objects(s3, bucket: str, since: datetime | None, until: datetime) -> Iterator[RawObject]:
    """Raw objects in the window, oldest hour first; keys outside the events/ layout are skipped."""
    prefixes = [PREFIX] if since is None else hour_prefixes(since, until)
    paginator = s3.get_paginator("list_objects_v2")
    for prefix in prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                hour = key_hour(item["Key"])
                if hour is None:
                    log.warning("skipping %s: not an events/YYYY/MM/DD/HH/<name> key", item["Key"])
                    continue
                if since is None and hour > floor_hour(until):
                    continue
                yield RawObject(item["Key"], item["ETag"].strip('"'), item["Size"], hour)


def new_objects(objects: Iterator[RawObject], loaded: Mapping[str, str]) -> list[RawObject]:
    """Objects whose key is not in the manifest with the same ETag, in key order."""
    return sorted((o for o in objects if loaded.get(o.key) != o.etag), key=lambda o: o.key)

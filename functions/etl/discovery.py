"""Which raw objects a run loads: keys under the window's hour prefixes, minus the manifest's."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from functions.raw_layout import PREFIX, floor_hour, hour_prefixes, key_hour

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawObject:
    key: str
    etag: str
    size: int
    hour: datetime          # the UTC hour in its key (functions.raw_layout)


def default_window(last_loaded_hour: datetime | None, lookback_hours: int,
                   now: datetime) -> tuple[datetime | None, datetime]:
    """From the last loaded hour less the lookback to now; (None, now) = everything, on the first run."""
    if last_loaded_hour is None:
        return None, now
    return last_loaded_hour - timedelta(hours=lookback_hours), now


def list_raw_objects(s3, bucket: str, since: datetime | None, until: datetime) -> Iterator[RawObject]:
    """Raw objects in the window, oldest hour first; keys outside the raw layout are skipped."""
    prefixes = [PREFIX] if since is None else hour_prefixes(since, until)
    paginator = s3.get_paginator("list_objects_v2")
    for prefix in prefixes:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                hour = key_hour(item["Key"])
                if hour is None:
                    log.warning("skipping %s: not a key of the raw layout", item["Key"])
                    continue
                if since is None and hour > floor_hour(until):
                    continue
                yield RawObject(item["Key"], item["ETag"].strip('"'), item["Size"], hour)


def new_objects(objects: Iterator[RawObject], loaded: Mapping[str, str]) -> list[RawObject]:
    """Objects whose key is not in the manifest with the same ETag, in key order."""
    return sorted((o for o in objects if loaded.get(o.key) != o.etag), key=lambda o: o.key)

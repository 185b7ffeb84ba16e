"""The raw bucket's key layout, the one contract between ingest (writes) and the ETL (lists, reads).

Each accepted request is one object ``events/YYYY/MM/DD/HH/events-<uuid>.json`` under the UTC
hour it was received in. The ETL lists one hour prefix at a time and takes each object's hour
from its key, so a key outside this layout is never loaded.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

#: Where every raw object lives; listing it whole is the ETL's first run.
PREFIX = "events/"
HOUR = timedelta(hours=1)
_KEY = re.compile(re.escape(PREFIX) + r"(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+")


def floor_hour(moment: datetime) -> datetime:
    """The UTC hour ``moment`` falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_prefix(moment: datetime) -> str:
    """``events/YYYY/MM/DD/HH/`` of the UTC hour ``moment`` falls in."""
    return f"{PREFIX}{moment.astimezone(UTC):%Y/%m/%d/%H}/"


def object_key(received: datetime, object_id: uuid.UUID | str | None = None, *, suffix: str = ".json") -> str:
    """``events/YYYY/MM/DD/HH/events-<object_id>.json`` for an object received at ``received``
    (a new uuid4 unless ``object_id`` is given; ``suffix=".json.gz"`` for a gzipped object)."""
    return f"{hour_prefix(received)}events-{object_id or uuid.uuid4()}{suffix}"


def key_hour(key: str) -> datetime | None:
    """The UTC hour a raw key belongs to, or None when the key is not in this layout."""
    match = _KEY.fullmatch(key)
    if not match:
        return None
    try:
        return datetime(*map(int, match.groups()), tzinfo=UTC)
    except ValueError:
        return None


def hour_prefixes(since: datetime, until: datetime) -> list[str]:
    """The hour prefix of every hour from since's to until's, both included, oldest first."""
    hour, last = floor_hour(since), floor_hour(until)
    prefixes = []
    while hour <= last:
        prefixes.append(hour_prefix(hour))
        hour += HOUR
    return prefixes

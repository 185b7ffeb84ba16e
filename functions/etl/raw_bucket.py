"""The raw bucket as the ETL reads it: the S3 client, listing a window's objects, streaming one.

Keys follow functions.raw_layout; listing goes one hour prefix at a time, oldest first, and an
object is read only as it was listed (its ETag), so one changed meanwhile waits for the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from functions.etl.config import Settings
from functions.raw_layout import PREFIX, floor_hour, hour_prefixes, key_hour

log = logging.getLogger(__name__)

READ_CHUNK = 256 * 1024
#: GetObject errors that mean the object was deleted or replaced since it was listed.
_GONE = ("NoSuchKey", "PreconditionFailed", "404", "412")


@dataclass(frozen=True)
class RawObject:
    key: str
    etag: str
    size: int
    hour: datetime          # the UTC hour in its key (functions.raw_layout)


class FetchFailed(RuntimeError):
    """Reading a raw object failed: the batch is rolled back and the run fails (the next one retries)."""


class ObjectVanished(Exception):
    """The object was deleted or replaced since it was listed."""


def make_s3_client(settings: Settings):
    import boto3  # noqa: PLC0415 - keeps `import functions.etl` light for the CLI's --help
    from botocore.config import Config  # noqa: PLC0415

    return boto3.client(
        "s3", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url,
        # Each lane's batch fetches with its own max_workers threads, all through this client.
        config=Config(max_pool_connections=settings.max_workers * settings.lanes, connect_timeout=5,
                      read_timeout=60, retries={"max_attempts": 5, "mode": "standard"}),
    )


def list_raw_objects(s3, bucket: str, since: datetime | None, until: datetime) -> Iterator[RawObject]:
    """Raw objects in the window, oldest hour first (since None: everything up to until's hour);
    keys outside the raw layout are skipped."""
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


@contextmanager
def open_object(s3, bucket: str, obj: RawObject) -> Iterator[tuple[Iterator[bytes], bool]]:
    """(chunks of the body, whether it is gzip) of the object as listed; the body is closed after.

    Raises ObjectVanished when it was deleted or replaced since (the ETag no longer matches).
    """
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        response = s3.get_object(Bucket=bucket, Key=obj.key, IfMatch=obj.etag)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "") in _GONE:
            raise ObjectVanished(obj.key) from exc
        raise
    body = response["Body"]
    gzipped = obj.key.endswith(".gz") or response.get("ContentEncoding", "").lower() == "gzip"
    try:
        yield iter(lambda: body.read(READ_CHUNK), b""), gzipped
    finally:
        body.close()

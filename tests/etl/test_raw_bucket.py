"""raw_bucket.py against an S3 emulator: listing a window's objects, streaming one as listed."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from functions.etl.raw_bucket import ObjectVanished, RawObject, list_raw_objects, open_object
from functions.raw_layout import hour_prefix, object_key

HOUR = datetime(2026, 11, 21, 3, tzinfo=UTC)


def put(s3, bucket: str, key: str, body: bytes = b"{}\n") -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return key


def test_listing_takes_the_windows_hours_oldest_first_and_skips_keys_outside_the_layout(s3, bucket, caplog):
    before = put(s3, bucket, object_key(datetime(2026, 11, 21, 1, 59, tzinfo=UTC), "before"))
    first = put(s3, bucket, object_key(datetime(2026, 11, 21, 2, tzinfo=UTC), "first"))
    last = put(s3, bucket, object_key(HOUR, "last"))
    after = put(s3, bucket, object_key(datetime(2026, 11, 21, 4, tzinfo=UTC), "after"))
    nested = put(s3, bucket, hour_prefix(HOUR) + "nested/x.json")
    put(s3, bucket, "elsewhere/x.json")
    window = list(list_raw_objects(s3, bucket, datetime(2026, 11, 21, 2, 30, tzinfo=UTC), HOUR))
    assert [o.key for o in window] == [first, last]
    assert window[1] == RawObject(last, s3.head_object(Bucket=bucket, Key=last)["ETag"].strip('"'), 3, HOUR)
    assert f"skipping {nested}: not a key of the raw layout" in caplog.text
    # The first run lists everything up to until's hour.
    assert [o.key for o in list_raw_objects(s3, bucket, None, HOUR)] == [before, first, last]
    assert after not in {o.key for o in list_raw_objects(s3, bucket, None, HOUR)}


def test_an_object_streams_as_listed_gzip_or_not(s3, bucket):
    plain = put(s3, bucket, object_key(HOUR, "plain"), b"a\nb\n" * 100_000)
    zipped = put(s3, bucket, object_key(HOUR, "zipped", suffix=".json.gz"), gzip.compress(b"a\n"))
    listed = {o.key: o for o in list_raw_objects(s3, bucket, HOUR, HOUR)}
    with open_object(s3, bucket, listed[plain]) as (chunks, gzipped):
        parts = list(chunks)
    assert not gzipped and b"".join(parts) == b"a\nb\n" * 100_000 and len(parts) > 1     # in chunks
    with open_object(s3, bucket, listed[zipped]) as (chunks, gzipped):
        assert gzipped and gzip.decompress(b"".join(chunks)) == b"a\n"


def test_an_object_replaced_or_deleted_since_it_was_listed_has_vanished(s3, bucket):
    key = put(s3, bucket, object_key(HOUR, "changing"))
    [listed] = list_raw_objects(s3, bucket, HOUR, HOUR)
    put(s3, bucket, key, b'{"new": 1}\n')
    with pytest.raises(ObjectVanished), open_object(s3, bucket, listed):
        pass
    s3.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(ObjectVanished), open_object(s3, bucket, listed):
        pass

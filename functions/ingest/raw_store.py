"""The raw bucket: one JSON Lines object per accepted request, keyed by receive time (UTC,
functions.raw_layout)."""

from __future__ import annotations

import os
import threading
from typing import Protocol

#: What the raw objects are (JSON Lines); S3 serves it back as the object's Content-Type.
RAW_CONTENT_TYPE = "application/x-ndjson"


class StoreError(Exception):
    """The raw object could not be written; the client should retry later."""


class RawSink(Protocol):
    def put(self, key: str, body: bytes) -> None: ...


class S3RawSink:
    """PutObject into the raw bucket (env RAW_BUCKET; AWS_ENDPOINT_URL is honoured by boto3 itself).

    boto3 is imported and the client made on the first put, not at import: that keeps the
    module import (and so requests refused before any write) off boto3's ~0.5 s start-up.
    """

    def __init__(self, bucket: str | None = None) -> None:
        self._bucket = bucket
        self._client = None
        self._lock = threading.Lock()

    @property
    def bucket(self) -> str:
        bucket = self._bucket or os.environ.get("RAW_BUCKET", "")
        if not bucket:
            raise StoreError("RAW_BUCKET is not set")
        return bucket

    def client(self):
        """The S3 client, made on first use (call it at import to move the cost into Lambda's init)."""
        with self._lock:  # boto3's default session is not thread-safe; the client is
            if self._client is None:
                import boto3  # noqa: PLC0415 - lazily, see the class docstring
                from botocore.config import Config  # noqa: PLC0415

                # Worst case 2 x (1 s + 3 s) plus backoff stays inside the integration timeout
                # (10 s in the ingest stack): fail fast with a 503 and let the browser retry.
                config = Config(connect_timeout=1, read_timeout=3,
                                retries={"mode": "standard", "max_attempts": 2})
                self._client = boto3.client("s3", config=config)
            return self._client

    def put(self, key: str, body: bytes) -> None:
        bucket = self.bucket
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            self.client().put_object(Bucket=bucket, Key=key, Body=body, ContentType=RAW_CONTENT_TYPE)
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"PutObject s3://{bucket}/{key} failed: {exc}") from exc

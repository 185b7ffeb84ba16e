"""Fixtures for the ingest tests: an in-memory sink and moto S3 behind the handler."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from functions.ingest import handler as handler_module
from functions.ingest.raw_store import S3RawSink
from tests.ingest.helpers import BUCKET, MemorySink


@pytest.fixture
def memory_sink(monkeypatch) -> MemorySink:
    sink = MemorySink()
    monkeypatch.setattr(handler_module, "sink", sink)
    return sink


@pytest.fixture
def aws_env(monkeypatch) -> None:
    """Fake credentials and no endpoint override, so nothing can reach a real AWS account."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "ap-southeast-1",
                        "AWS_REGION": "ap-southeast-1", "RAW_BUCKET": BUCKET}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def s3(aws_env, monkeypatch) -> Iterator[object]:
    """moto S3 with the raw bucket; the handler writes through a fresh S3RawSink."""
    with mock_aws():
        import boto3  # noqa: PLC0415 - inside the mock

        client = boto3.client("s3", region_name="ap-southeast-1")
        client.create_bucket(Bucket=BUCKET,
                             CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"})
        monkeypatch.setattr(handler_module, "sink", S3RawSink())
        yield client

"""A moto S3 server on the loopback (shared with child processes), with dummy credentials so
nothing ever reaches a real account: the raw bucket of the ETL tests and the dashboard fixture."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from moto.server import ThreadedMotoServer

from tests.support.net import free_port

REGION = "ap-southeast-1"


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """The endpoint URL of a running moto server (stopped on exit), with this process's (and its
    children's) AWS credentials set to dummies."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_SESSION_TOKEN", "testing"), ("AWS_DEFAULT_REGION", REGION)):
        os.environ[name] = value
    with running_moto() as endpoint:
        yield endpoint


@contextlib.contextmanager
def running_moto() -> Iterator[str]:
    """The endpoint URL of a running moto server (stopped on exit); the environment untouched
    (callers that run tools with an environment of their own)."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()

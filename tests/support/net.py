"""Network helpers for the tests' local servers (PostgreSQL clusters, moto, Shiny, the shop)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on now (the caller binds it next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

"""The fields ingest adds to every event: receive time, request id, anonymised IP, user agent, is_bot."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

from functions.enrichment import bots

#: Longest user agent kept (the raw schema's maxLength).
MAX_USER_AGENT_CHARS = 1024


def is_bot(user_agent: str | None) -> bool:
    """True for a crawler, HTTP library, headless browser or monitor on the maintained list
    (``functions.enrichment.bots``), judged on the agent as stored; a missing one counts too."""
    return bots.is_bot(user_agent[:MAX_USER_AGENT_CHARS] if user_agent else user_agent)


def anonymise_ip(source_ip: str | None) -> str | None:
    """The network address of the /24 (IPv4) or /48 (IPv6) around ``source_ip``; None if not an IP."""
    if not source_ip:
        return None
    try:
        address = ipaddress.ip_address(source_ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def clean_user_agent(user_agent: str | None) -> str | None:
    """The user agent cut to the schema's length, with anything not encodable as UTF-8 replaced."""
    if user_agent is None:
        return None
    user_agent = user_agent[:MAX_USER_AGENT_CHARS]
    if not user_agent.isascii():
        user_agent = user_agent.encode("utf-8", "replace").decode("utf-8")
    return user_agent


def received_at(time_epoch_ms: int) -> str:
    """RFC 3339 UTC with milliseconds, e.g. 2026-11-21T23:05:09.123Z."""
    moment = datetime.fromtimestamp(time_epoch_ms // 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{time_epoch_ms % 1000:03d}Z"


def enrichment(*, time_epoch_ms: int, request_id: str, source_ip: str | None,
               user_agent: str | None) -> dict:
    """The enrichment fields (schema ``$defs/enrichment``) shared by all events of one request."""
    return {
        "received_at": received_at(time_epoch_ms),
        "ingest_request_id": request_id[:128],
        "source_ip": anonymise_ip(source_ip),
        "user_agent": clean_user_agent(user_agent),
        "is_bot": is_bot(user_agent),
    }

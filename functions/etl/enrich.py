"""The enrichment columns of a warehouse row: the readers ``rows.ROW_SPEC`` calls per event.

``functions.enrichment`` does the work; this module reads its inputs from the line's record
(the client's event with ingest's fields) and returns the columns as COPY text
(``values.COPY_TEXT``), cached per distinct user agent, page URL, referrer and address, so the
cost follows distinct values, not events. One call gives several columns (``rows.derived``).

- agent (``AGENT_COLUMNS``): ``is_bot``, true when ingest flagged the event or the maintained
  crawler list matches its agent now; ``bot_reason`` (``functions.enrichment.bots``); device
  type, browser family and major version, OS family (ua-parser, as it reports them);
- campaign (``CAMPAIGN_COLUMNS``): the page URL's ``utm_*`` parameters and click id type;
- ``country``: ISO 3166-1 alpha-2 of the anonymised address when a country database is
  configured (``configure_geography``; ``GEOIP_COUNTRY_DB``), else NULL;
- ``referrer_host``: the referrer's host, lower case, without ``www.``.
"""

from __future__ import annotations

from functools import lru_cache

from functions.enrichment import bots, geo, urls, user_agent
from functions.etl.values import NULL, RejectedLine, copy_text

CACHE_SIZE = 16384
_EMPTY: dict = {}

AGENT_COLUMNS = ("is_bot", "bot_reason", "device_type", "browser_family", "browser_major", "os_family")
CAMPAIGN_COLUMNS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "click_id_type")


@lru_cache(maxsize=CACHE_SIZE)
def _agent_texts(ua: str | None, ingest_flagged: bool) -> tuple[str, ...]:
    try:
        info = user_agent.parse(ua)
    except UnicodeEncodeError:   # the parser's Rust regex takes UTF-8; the row could not be written either
        raise RejectedLine("invalid Unicode: a lone surrogate escape in a string") from None
    reason = bots.bot_reason(ua, ingest_flagged=ingest_flagged, device_family=info.device_family)
    is_bot = ingest_flagged or (reason is not None and reason != bots.REASON_INGEST)
    return ("t" if is_bot else "f", copy_text(reason), copy_text(info.device_type),
            copy_text(info.browser_family), copy_text(info.browser_major), copy_text(info.os_family))


def agent_texts(e: dict) -> tuple[str, ...]:
    """``AGENT_COLUMNS`` as COPY text (an agent that is not a string reads as a missing one)."""
    ua = e.get("user_agent")
    return _agent_texts(ua if type(ua) is str else None, e.get("is_bot") is True)


_NO_CAMPAIGN = (NULL,) * len(CAMPAIGN_COLUMNS)


@lru_cache(maxsize=CACHE_SIZE)
def _campaign_texts(url: str) -> tuple[str, ...]:
    found = urls.acquisition(url, None)
    return tuple(copy_text(v) for v in (found.source, found.medium, found.campaign, found.term, found.content,
                                        found.click_id_type))


def campaign_texts(e: dict) -> tuple[str, ...]:
    """``CAMPAIGN_COLUMNS`` of page.url as COPY text (all NULL without a query)."""
    url = (e.get("page") or _EMPTY).get("url")
    if type(url) is not str or "?" not in url:
        return _NO_CAMPAIGN
    return _campaign_texts(url)


@lru_cache(maxsize=CACHE_SIZE)
def _host_text(url: str) -> str:
    return copy_text(urls.host(url))


def referrer_host_text(e: dict) -> str:
    referrer = (e.get("page") or _EMPTY).get("referrer")
    return _host_text(referrer) if type(referrer) is str and referrer else NULL


# ---------------------------------------------------------------- country

#: The country database rows are enriched from; [None]: geography is not configured.
_geography: list[geo.CountryLookup | None] = [None]


def configure_geography(lookup: geo.CountryLookup | None) -> None:
    """Enrich rows from ``lookup`` (None, or one without a database: geography not configured)."""
    _geography[0] = lookup if lookup is not None and lookup.configured else None


def geography_configured() -> bool:
    return _geography[0] is not None


def country_text(e: dict) -> str:
    lookup = _geography[0]
    if lookup is None:
        return NULL
    address = e.get("source_ip")
    return copy_text(lookup.country(address)) if type(address) is str else NULL


def cache_clear() -> None:
    _agent_texts.cache_clear()
    _campaign_texts.cache_clear()
    _host_text.cache_clear()

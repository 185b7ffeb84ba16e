"""The enrichment columns of a warehouse row: the readers ``rows.ROW_SPEC`` calls per event.

Each reader is a function of the line's record (the client's event with ingest's fields) and
returns one column's value; ``functions.enrichment`` does the work, cached per distinct user
agent, landing URL and referrer, so the cost follows distinct values, not events.

- user agent: device type, browser family and major version, OS family (ua-parser);
- bots: ``bot_reason`` (the maintained crawler list, the parser's Spider family, ingest's flag)
  and ``is_bot``, true when ingest flagged the event or the list matches its agent now;
- country: ISO 3166-1 alpha-2 of the anonymised address, when a country database is
  configured (``configure_geography``; ``GEOIP_COUNTRY_DB``), else NULL;
- campaign: the ``utm_*`` parameters and click id type of the page URL, the referrer's host.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from functions.enrichment import bots, geo, urls, user_agent
from functions.etl.values import RejectedLine

CACHE_SIZE = 16384
_EMPTY: dict = {}


class Agent(NamedTuple):
    device_type: str
    browser_family: str
    browser_major: str | None
    os_family: str
    bot_reason: str | None    # from the agent alone: no-user-agent, crawler:<token>, spider


@lru_cache(maxsize=CACHE_SIZE)
def _agent(ua: str | None) -> Agent:
    try:
        info = user_agent.parse(ua)
    except UnicodeEncodeError:   # the parser's Rust regex takes UTF-8; the row could not be written either
        raise RejectedLine("invalid Unicode: a lone surrogate escape in a string") from None
    return Agent(info.device_type, info.browser_family, info.browser_major, info.os_family,
                 bots.bot_reason(ua, device_family=info.device_family))


def agent(ua) -> Agent:
    """What the user agent says (a value that is not a string reads as a missing agent)."""
    return _agent(ua if type(ua) is str else None)


def device_type(e: dict) -> str:
    return agent(e.get("user_agent")).device_type


def browser_family(e: dict) -> str:
    return agent(e.get("user_agent")).browser_family


def browser_major(e: dict) -> str | None:
    return agent(e.get("user_agent")).browser_major


def os_family(e: dict) -> str:
    return agent(e.get("user_agent")).os_family


def bot_reason(e: dict) -> str | None:
    """Why the event is a bot's (``functions.enrichment.bots``); None when it is not."""
    reason = agent(e.get("user_agent")).bot_reason
    if reason is None and e.get("is_bot") is True:
        return bots.REASON_INGEST
    return reason


def is_bot(e: dict) -> bool:
    """Ingest's flag, or the maintained list matching the agent now (a list newer than ingest's)."""
    return e.get("is_bot") is True or agent(e.get("user_agent")).bot_reason is not None


# ---------------------------------------------------------------- country

#: The country database rows are enriched from; [None]: geography is not configured.
_geography: list[geo.CountryLookup | None] = [None]


def configure_geography(lookup: geo.CountryLookup | None) -> None:
    """Enrich rows from ``lookup`` (None, or one without a database: geography not configured)."""
    _geography[0] = lookup if lookup is not None and lookup.configured else None


def geography_configured() -> bool:
    return _geography[0] is not None


def country(e: dict) -> str | None:
    lookup = _geography[0]
    if lookup is None:
        return None
    address = e.get("source_ip")
    return lookup.country(address) if type(address) is str else None


# ---------------------------------------------------------------- campaign and referrer

_NO_CAMPAIGN = (None,) * 6


@lru_cache(maxsize=CACHE_SIZE)
def _campaign(url: str) -> tuple[str | None, ...]:
    found = urls.acquisition(url, None)
    return (found.source, found.medium, found.campaign, found.term, found.content, found.click_id_type)


def campaign(e: dict) -> tuple[str | None, ...]:
    """(utm_source, utm_medium, utm_campaign, utm_term, utm_content, click_id_type) of page.url."""
    url = (e.get("page") or _EMPTY).get("url")
    if type(url) is not str or "?" not in url:
        return _NO_CAMPAIGN
    return _campaign(url)


def utm_source(e: dict) -> str | None:
    return campaign(e)[0]


def utm_medium(e: dict) -> str | None:
    return campaign(e)[1]


def utm_campaign(e: dict) -> str | None:
    return campaign(e)[2]


def utm_term(e: dict) -> str | None:
    return campaign(e)[3]


def utm_content(e: dict) -> str | None:
    return campaign(e)[4]


def click_id_type(e: dict) -> str | None:
    return campaign(e)[5]


@lru_cache(maxsize=CACHE_SIZE)
def _host(url: str) -> str | None:
    return urls.host(url)


def referrer_host(e: dict) -> str | None:
    """The referrer's host (lower case, without ``www.``); None without an absolute referrer."""
    referrer = (e.get("page") or _EMPTY).get("referrer")
    return _host(referrer) if type(referrer) is str and referrer else None


def cache_clear() -> None:
    _agent.cache_clear()
    _campaign.cache_clear()
    _host.cache_clear()

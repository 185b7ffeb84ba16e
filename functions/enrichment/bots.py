"""Whether a user agent is a bot, and why: the maintained crawler list and ua-parser's Spider family.

The list is CrawlerDetect's (about 1,500 patterns of crawlers, HTTP libraries, headless browsers,
monitors and scanners, with exclusions for real devices such as the CUBOT phone), pinned in
requirements/. Ingest flags with ``is_bot`` (a missing agent or a list match; ingest has no
user-agent parser); the ETL records ``bot_reason``, which also looks at the parser's device
family and at ingest's flag.

Reasons, first that applies:

- ``no-user-agent``: the user agent is missing or blank.
- ``crawler:<token>``: the list matched; ``<token>`` is the text its pattern matched, as it
  appears in the agent (``crawler:Googlebot``, ``crawler:python-requests``), at most 64
  characters.
- ``spider``: ua-parser's device family is ``Spider`` and the list does not match.
- ``ingest``: ingest flagged the event but none of the above holds now (it was flagged under an
  older list, or the agent was cut differently).
- None: not a bot.

Cost (bench/enrichment.py): crawlerdetect is imported and its list, one regular expression of
about 1,500 alternatives, compiled on the first lookup, not at import (as ingest loads boto3 on
its first put): about 40-70 ms of CPU once per process. A lookup then costs 0.15-0.4 ms of CPU
for an agent not seen before (the expression is tried at every position of the agent) and well
under a microsecond for one seen before: results are cached per distinct user agent
(``CACHE_SIZE``, least recently used out), so the cost follows the number of distinct agents.
"""

from __future__ import annotations

from functools import lru_cache

CACHE_SIZE = 16384
MAX_TOKEN_CHARS = 64
REASON_NO_USER_AGENT = "no-user-agent"
REASON_CRAWLER = "crawler:"
REASON_SPIDER = "spider"
REASON_INGEST = "ingest"
#: ua-parser's device family for crawlers that declare themselves.
SPIDER_DEVICE_FAMILY = "Spider"


@lru_cache(maxsize=CACHE_SIZE)
def crawler_token(user_agent: str) -> str | None:
    """The text of ``user_agent`` the crawler list matched, or None when it matches nothing."""
    from crawlerdetect import CrawlerDetect  # noqa: PLC0415 - on the first lookup, off the cold start

    detector = CrawlerDetect()  # one per lookup: its match is instance state, kept off shared objects
    if not detector.is_crawler(user_agent):
        return None
    return (detector.get_matches() or "?")[:MAX_TOKEN_CHARS]


def _blank(user_agent: str | None) -> bool:
    return not user_agent or user_agent.isspace()


def is_bot(user_agent: str | None) -> bool:
    """Ingest's ``is_bot``: a missing or blank user agent, or one the crawler list matches."""
    return _blank(user_agent) or crawler_token(user_agent) is not None


def bot_reason(user_agent: str | None, *, ingest_flagged: bool = False,
               device_family: str | None = None) -> str | None:
    """Why an event is a bot's (see the module's reasons), None when it is not.

    ``device_family`` is ua-parser's for this agent (``user_agent.parse(ua).device_family``);
    ``ingest_flagged`` is the raw event's ``is_bot``.
    """
    if _blank(user_agent):
        return REASON_NO_USER_AGENT
    token = crawler_token(user_agent)
    if token is not None:
        return REASON_CRAWLER + token
    if device_family == SPIDER_DEVICE_FAMILY:
        return REASON_SPIDER
    if ingest_flagged:
        return REASON_INGEST
    return None


def cache_info():
    """The per-agent cache's hits, misses and size (functools' CacheInfo)."""
    return crawler_token.cache_info()

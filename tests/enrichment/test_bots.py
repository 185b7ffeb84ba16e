"""functions.enrichment.bots: the maintained crawler list, the reasons, the per-agent cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from functions.enrichment import bots
from functions.enrichment.bots import bot_reason, crawler_token, is_bot
from functions.enrichment.user_agent import parse

REPO = Path(__file__).resolve().parents[2]
BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0.0.0 Safari/537.36")


@pytest.mark.parametrize(("ua", "token"), [
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot"),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bingbot"),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "facebookexternalhit"),
    ("python-requests/2.32.3", "python-requests"),
    ("curl/8.5.0", "curl"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0",
     "Headless"),
    # in the maintained list, not in the hand-written one it replaced
    ("Mozilla/5.0 zgrab/0.x", "zgrab"),
    ("Expanse, a Palo Alto Networks company, searches across the global IPv4 space", "Expanse"),
    ("Zapier", "Zapier"),
])
def test_crawler_list_matches_with_its_token(ua, token):
    assert crawler_token(ua) == token
    assert is_bot(ua) is True
    assert bot_reason(ua) == f"crawler:{token}"


@pytest.mark.parametrize("ua", [
    BROWSER,
    "Mozilla/5.0 (Linux; Android 13; CUBOT KingKong 9) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
])
def test_browsers_are_not_bots(ua):
    assert crawler_token(ua) is None
    assert is_bot(ua) is False
    assert bot_reason(ua, device_family=parse(ua).device_family) is None


@pytest.mark.parametrize("ua", [None, "", "  \t"])
def test_a_missing_user_agent_is_a_bot(ua):
    assert is_bot(ua) is True
    assert bot_reason(ua) == "no-user-agent"
    assert bot_reason(ua, ingest_flagged=True, device_family="Spider") == "no-user-agent"


def test_reasons_in_order():
    crawler = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    # the list decides before the parser's family and ingest's flag
    assert bot_reason(crawler, ingest_flagged=True, device_family="Spider") == "crawler:Googlebot"
    # a self-declared spider the list does not know: the parser's Spider family
    spider = "Mozilla/5.0 (compatible; TLSProber/1.0)"
    assert crawler_token(spider) is None
    assert parse(spider).device_family == "Spider"
    assert bot_reason(spider, device_family=parse(spider).device_family) == "spider"
    assert bot_reason(spider, ingest_flagged=True, device_family="Spider") == "spider"
    # ingest flagged it, nothing matches now
    assert bot_reason(BROWSER, ingest_flagged=True, device_family="Other") == "ingest"
    assert bot_reason(BROWSER, ingest_flagged=False, device_family="Other") is None


def test_tokens_are_cut():
    ua = "Mozilla/5.0 " + "x" * 200 + "bot"
    token = crawler_token(ua)
    assert token is not None and len(token) == bots.MAX_TOKEN_CHARS


def test_cost_follows_distinct_user_agents():
    crawler_token.cache_clear()
    agents = [BROWSER, "curl/8.5.0", "python-requests/2.32.3"]
    for _ in range(100):
        for ua in agents:
            is_bot(ua)
    info = bots.cache_info()
    assert (info.misses, info.hits) == (3, 297)


def test_the_list_loads_on_the_first_lookup_not_at_import():
    code = ("import sys, functions.enrichment.bots as b; print('crawlerdetect' in sys.modules); "
            "b.is_bot('Mozilla/5.0'); print('crawlerdetect' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}).stdout
    assert out.split() == ["False", "True"]

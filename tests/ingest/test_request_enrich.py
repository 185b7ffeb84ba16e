"""Reading the payload 2.0 event, and the enrichment fields (time, IP, user agent, is_bot)."""

from __future__ import annotations

import pytest

from functions.ingest.enrich import (
    MAX_USER_AGENT_CHARS,
    anonymise_ip,
    clean_user_agent,
    enrichment,
    is_bot,
    received_at,
)
from functions.ingest.request import UnsupportedEvent, parse_apigw_v2
from functions.schemas import ENRICHMENT_VALIDATOR
from tests.ingest.helpers import BROWSER_UA, TIME_EPOCH_MS, apigw_event


def test_parse_reads_what_api_gateway_sends():
    event = apigw_event('{"a":1}', headers={"content-type": "text/plain;charset=UTF-8",
                                             "content-encoding": "gzip"}, is_base64=True)
    request = parse_apigw_v2(event)
    assert request.method == "POST"
    assert request.content_type == "text/plain;charset=UTF-8"
    assert request.content_encoding == "gzip"
    assert request.body == '{"a":1}'
    assert request.is_base64_encoded is True
    assert request.source_ip == "203.0.113.77"
    assert request.user_agent == BROWSER_UA
    assert request.request_id == event["requestContext"]["requestId"]
    assert request.time_epoch_ms == TIME_EPOCH_MS


@pytest.mark.parametrize("event", [None, [], {"version": "1.0", "httpMethod": "POST"}, {"body": "{}"}])
def test_non_payload_v2_events_are_a_deployment_error(event):
    with pytest.raises(UnsupportedEvent, match=r"payload format 2\.0"):
        parse_apigw_v2(event)


def test_payload_v2_without_http_context_is_a_deployment_error():
    with pytest.raises(UnsupportedEvent, match="requestContext"):
        parse_apigw_v2({"version": "2.0", "requestContext": {}})


def test_missing_optional_fields_get_safe_defaults():
    event = apigw_event(None, user_agent=None)
    del event["requestContext"]["requestId"]
    del event["requestContext"]["timeEpoch"]
    del event["requestContext"]["http"]["sourceIp"]
    del event["headers"]
    request = parse_apigw_v2(event, fallback_request_id="lambda-req-1")
    assert request.body is None
    assert request.content_type is None
    assert request.user_agent is None
    assert request.source_ip is None
    assert request.request_id == "lambda-req-1"
    assert request.time_epoch_ms > TIME_EPOCH_MS  # the clock, not a made-up value
    assert parse_apigw_v2(event).request_id  # a fresh UUID when there is nothing else


def test_user_agent_header_is_the_fallback_and_bad_epoch_uses_the_clock():
    event = apigw_event("{}", user_agent=None, headers={"user-agent": "curl/8.5.0"},
                        time_epoch_ms=-5)
    request = parse_apigw_v2(event)
    assert request.user_agent == "curl/8.5.0"
    assert request.time_epoch_ms > TIME_EPOCH_MS


@pytest.mark.parametrize(("source", "anonymised"), [
    ("203.0.113.77", "203.0.113.0"),
    ("10.1.2.255", "10.1.2.0"),
    ("2001:db8:abcd:12:34::1", "2001:db8:abcd::"),
    ("::ffff:198.51.100.9", "198.51.100.0"),
    (" 192.0.2.1 ", "192.0.2.0"),
    ("not-an-ip", None),
    ("", None),
    (None, None),
])
def test_anonymise_ip(source, anonymised):
    assert anonymise_ip(source) == anonymised


@pytest.mark.parametrize("user_agent", [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0",
    "Mozilla/5.0 (compatible; YandexSpider/3.0)",
    "curl/8.5.0",
    "Wget/1.21.4",
    "python-requests/2.32.3",
    "Python-urllib/3.11",
    "Go-http-client/2.0",
    "Java/17.0.2",
    "okhttp/4.12.0",
    "Scrapy/2.11 (+https://scrapy.org)",
    "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "Mozilla/5.0 Chrome-Lighthouse",
    "",
    None,
])
def test_bots_are_flagged(user_agent):
    assert is_bot(user_agent) is True


@pytest.mark.parametrize("user_agent", [
    BROWSER_UA,
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 13; CUBOT KingKong 9) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0",
])
def test_browsers_are_not_bots(user_agent):
    assert is_bot(user_agent) is False


def test_bots_come_from_the_maintained_list():
    """Crawlers the former hand-written patterns missed; the list's own exclusions hold."""
    assert is_bot("Mozilla/5.0 zgrab/0.x") is True
    assert is_bot("Expanse, a Palo Alto Networks company, searches across the global IPv4 space") is True
    assert is_bot("Mozilla/5.0 (Linux; Android 13; CUBOT KingKong 9) AppleWebKit/537.36 Chrome/120.0 "
                  "Mobile Safari/537.36") is False


def test_long_user_agents_are_judged_on_what_is_stored():
    assert is_bot("Mozilla/5.0 " + "x" * 2000 + " Googlebot/2.1") is False
    assert is_bot("Googlebot/2.1 " + "x" * 2000) is True


def test_received_at_is_rfc3339_utc_with_milliseconds():
    assert received_at(TIME_EPOCH_MS) == "2026-11-21T23:05:09.123Z"
    assert received_at(1_700_000_000_999) == "2023-11-14T22:13:20.999Z"
    assert received_at(0) == "1970-01-01T00:00:00.000Z"


def test_user_agent_is_cut_and_made_encodable():
    assert clean_user_agent("a" * 5000) == "a" * MAX_USER_AGENT_CHARS
    assert clean_user_agent("bad \ud800 surrogate") == "bad ? surrogate"
    assert clean_user_agent("Überbrowser") == "Überbrowser"
    assert clean_user_agent(None) is None


def test_enrichment_matches_the_schema():
    fields = enrichment(time_epoch_ms=TIME_EPOCH_MS, request_id="r" * 300, source_ip="2001:db8::1",
                        user_agent="x" * 2000)
    assert ENRICHMENT_VALIDATOR.is_valid(fields)
    assert fields["ingest_request_id"] == "r" * 128
    assert fields["source_ip"] == "2001:db8::"
    assert fields["is_bot"] is False

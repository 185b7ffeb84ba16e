"""functions.enrichment.user_agent: families as ua-parser reports them, the device-type rules, the cache."""

from __future__ import annotations

import pytest
import ua_parser

from functions.enrichment import user_agent
from functions.enrichment.user_agent import DEVICE_TYPE_RULES, DEVICE_TYPES, UNKNOWN, device_type_rule, parse

# (user agent, device type, browser family, browser major, OS family)
CASES = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36", "desktop", "Chrome", "131", "Windows"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36 Edg/131.0.0.0", "desktop", "Edge", "131", "Windows"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
     "Safari/605.1.15", "desktop", "Safari", "18", "Mac OS X"),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
     "desktop", "Firefox", "133", "Ubuntu"),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36", "desktop", "Chrome", "131", "Chrome OS"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Mobile/15E148 Safari/604.1", "mobile", "Mobile Safari", "17", "iOS"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", "mobile", "Chrome Mobile iOS", "131", "iOS"),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Mobile Safari/537.36", "mobile", "Chrome Mobile", "131", "Android"),
    ("Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
     "mobile", "Firefox Mobile", "133", "Android"),
    ("Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 "
     "Version/10.54", "mobile", "Opera Mini", "9", "Symbian OS"),
    ("Mozilla/5.0 (BB10; Touch) AppleWebKit/537.10+ (KHTML, like Gecko) Version/10.0.9.2372 Mobile "
     "Safari/537.10+", "mobile", "BlackBerry WebKit", "10", "BlackBerry OS"),
    ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
     "Mobile/15E148 Safari/604.1", "tablet", "Mobile Safari", "17", "iOS"),
    ("Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36", "tablet", "Chrome", "131", "Android"),
    ("Mozilla/5.0 (Linux; Android 11; Lenovo TB-J606F) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", "tablet", "Chrome", "131", "Android"),
    ("Mozilla/5.0 (Linux; Android 9; KFMAWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/131.2.1 like "
     "Chrome/131.0.6778.135 Safari/537.36", "tablet", "Amazon Silk", "131", "Android"),
    ("Mozilla/5.0 (Android 4.4; Tablet; rv:41.0) Gecko/41.0 Firefox/41.0",
     "tablet", "Firefox Mobile", "41", "Android"),
    ("Mozilla/5.0 (X11; U; Linux armv7l like Android; en-us) AppleWebKit/531.2+ (KHTML, like Gecko) "
     "Version/5.0 Safari/531.2+ Kindle/3.0+", "tablet", "Kindle", "3", "Kindle"),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
     "Safari/537.36 Tablet", "tablet", "Chrome", "131", "Android"),
    ("Mozilla/5.0 (PlayBook; U; RIM Tablet OS 2.1.0; en-US) AppleWebKit/536.2+ (KHTML, like Gecko) "
     "Version/7.2.1.0 Safari/536.2+", "tablet", "BlackBerry WebKit", "2", "BlackBerry Tablet OS"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; Tablet) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
     "tablet", "Chrome", "131", "Windows"),
    ("Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; Tablet PC 2.0; rv:11.0) like Gecko",
     "desktop", "IE", "11", "Windows"),
    ("Mozilla/5.0 (SymbianOS/9.4; Series60/5.0 NokiaN97-1/12.0.024; Profile/MIDP-2.1 Configuration/CLDC-1.1; "
     "en-us) AppleWebKit/525 (KHTML, like Gecko) BrowserNG/7.1.18124",
     "mobile", "Nokia Browser", "7", "Symbian OS"),
    ("Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 "
     "Chrome/76.0.3809.146 TV Safari/537.36", "other", "Samsung Internet", "4", "Tizen"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36 Edge/44.18363.8131", "other", "Edge", "44", "Windows"),
    ("Mozilla/5.0 (Linux; Android 10; BRAVIA 4K GB ATV3) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0 Safari/537.36", "other", "Chrome", "131", "Android"),
    ("AppleCoreMedia/1.0.0.21K69 (Apple TV; U; CPU OS 17_1 like Mac OS X; en_us)",
     "other", "Other", None, "ATV OS X"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     "other", "Googlebot", "2", "Other"),
    ("curl/8.5.0", "other", "curl", "8", "Other"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 "
     "Safari/537.36", "desktop", "HeadlessChrome", "131", "Linux"),
    ("something nobody parses", "other", "Other", None, "Other"),
]


@pytest.mark.parametrize(("ua", "device_type", "browser", "major", "os_family"), CASES)
def test_families_and_device_type(ua, device_type, browser, major, os_family):
    info = parse(ua)
    assert (info.device_type, info.browser_family, info.browser_major, info.os_family) == \
        (device_type, browser, major, os_family)


def test_families_are_the_parsers_own():
    for ua, *_ in CASES:
        ref = ua_parser.parse(ua).with_defaults()
        info = parse(ua)
        assert (info.browser_family, info.browser_major, info.os_family, info.device_family) == \
            (ref.user_agent.family, ref.user_agent.major, ref.os.family, ref.device.family)


def test_every_device_type_rule_decides_some_case():
    """Each rule of the table is reached by at least one case (none is dead or shadowed)."""
    decided = set()
    for ua, *_ in CASES:
        result = ua_parser.parse(ua)
        index = device_type_rule(ua, os_family=result.os.family if result.os else "Other",
                                 device_family=result.device.family if result.device else "Other",
                                 device_brand=result.device.brand if result.device else None)
        decided.add(index)
    assert decided == {*range(len(DEVICE_TYPE_RULES)), None}
    assert {kind for kind, _, _ in DEVICE_TYPE_RULES} == set(DEVICE_TYPES)


@pytest.mark.parametrize("ua", [None, "", "   "])
def test_missing_user_agent(ua):
    assert parse(ua) == UNKNOWN
    assert UNKNOWN.device_type == "other" and UNKNOWN.browser_family == "Other"


def test_the_rust_resolver_parses():
    """ua-parser-rs is pinned for the Lambda platform: about 50 times faster than the Python resolver."""
    assert user_agent.resolver_name() == "regex"


def test_cost_follows_distinct_user_agents():
    user_agent.cache_clear()
    agents = [ua for ua, *_ in CASES]
    for _ in range(50):
        for ua in agents:
            parse(ua)
    info = user_agent.cache_info()
    assert info.misses == len(set(agents))
    assert info.hits == 49 * len(agents) + (len(agents) - len(set(agents)))
    assert info.maxsize == user_agent.CACHE_SIZE

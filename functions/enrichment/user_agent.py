"""Device type, browser family and major version, OS family of a user agent, cached per agent.

Browser, OS and device families are ua-parser's, as it reports them ("Chrome Mobile",
"Mobile Safari", "Mac OS X", "iPhone", "Spider"); "Other" where it recognises nothing, as the
parser's own defaulted result says. The device type (desktop, mobile, tablet, other) is not a
parser result: ``DEVICE_TYPE_RULES`` derives it from the parser's device and OS families and a
few user-agent tokens, first matching rule wins.

The resolver is ua-parser-rs (Rust regex sets, about 17 us per new agent) when it is installed,
else ua-parser's pure-Python one (about 0.9 ms); both are built on the first parse, not at
import. Results are cached per distinct user agent (``CACHE_SIZE``, least recently used out),
so the cost follows the number of distinct agents, not of events.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

#: Distinct user agents kept; a shop sees a few thousand a day, each entry is a few hundred bytes.
CACHE_SIZE = 16384
#: The parser's name for what it does not recognise.
OTHER = "Other"
DEVICE_TYPES = ("desktop", "mobile", "tablet", "other")


class UserAgentInfo(NamedTuple):
    device_type: str            # one of DEVICE_TYPES
    browser_family: str         # e.g. "Chrome", "Chrome Mobile", "Mobile Safari"; "Other"
    browser_major: str | None   # e.g. "131"; None when the parser found no version
    os_family: str              # e.g. "Windows", "Mac OS X", "iOS", "Android"; "Other"
    device_family: str          # e.g. "iPhone", "iPad", "Samsung SM-S918B", "Spider"; "Other"


#: A missing or blank user agent.
UNKNOWN = UserAgentInfo("other", OTHER, None, OTHER, OTHER)


class _Parsed(NamedTuple):
    """What the rules look at: the parser's families and brand, and the user agent itself."""

    ua: str
    os_family: str
    device_family: str
    device_brand: str | None


def _matches(pattern: str) -> Callable[[_Parsed], bool]:
    compiled = re.compile(pattern)
    return lambda p: compiled.search(p.ua) is not None


_TV_OR_CONSOLE_OS = ("tvOS", "ATV OS X", "FireHbbTV", "WatchOS", "Chromecast")
_PHONE_DEVICES = {"iPhone", "iPod", "Generic Smartphone", "Generic Feature Phone"}
_MOBILE_OS = {"iOS", "Windows Phone", "Windows Mobile", "BlackBerry OS", "KaiOS", "Firefox OS",
              "Symbian OS", "Symbian^3", "Symbian^3 Anna", "Symbian^3 Belle", "Nokia Series 40",
              "Nokia Series 30 Plus", "Brew MP", "webOS", "Tizen"}
_DESKTOP_OS = {"Windows", "Mac OS X", "Mac OS", "Linux", "Ubuntu", "Chrome OS", "Debian", "Fedora",
               "Red Hat", "Gentoo", "Arch Linux", "Mint", "Linux Mint", "SUSE", "openSUSE", "CentOS",
               "Kubuntu", "Xubuntu", "Mandriva", "Slackware", "FreeBSD", "OpenBSD", "NetBSD",
               "Solaris"}

#: (device type, the rule in words, test). Evaluated in order; the first true test decides; no
#: rule true means "other". Tokens are matched case-sensitively, as browsers send them.
DEVICE_TYPE_RULES: tuple[tuple[str, str, Callable[[_Parsed], bool]], ...] = (
    ("other", "the parser's device family is Spider (a crawler declaring itself)",
     lambda p: p.device_family == "Spider"),
    ("other", "a TV, set-top box or watch OS family (tvOS, Chromecast, FireHbbTV, WatchOS, ...) "
              "or the parser's Generic_Inettv brand",
     lambda p: p.os_family.startswith(_TV_OR_CONSOLE_OS) or p.device_brand == "Generic_Inettv"),
    ("other", "a TV or console token: SMART-TV, SmartTV, HbbTV, TV, AppleTV, GoogleTV, Android TV, "
              "CrKey, Roku, BRAVIA, Web0S, AFTx (Fire TV), PlayStation, Xbox, Nintendo",
     _matches(r"SMART-TV|SmartTV|Smart-TV|SMART TV|HbbTV|\bTV\b|AppleTV|Apple TV|GoogleTV|Android TV|"
              r"CrKey|Roku|BRAVIA|Web0S|\bAFT[A-Z]|PlayStation|Xbox|Nintendo")),
    ("tablet", "the parser's device is an iPad, a Kindle or a generic tablet "
               "(ua-parser's brand Generic_Android_Tablet: Android without 'Mobile')",
     lambda p: p.device_family in ("iPad", "Generic Tablet") or p.device_family.startswith("Kindle")
     or p.device_brand == "Generic_Android_Tablet"),
    ("tablet", "a tablet token: iPad, Tablet (not 'Tablet PC', a Windows desktop), Kindle, Silk/, PlayBook",
     _matches(r"\biPad\b|\bTablet\b(?! PC)|\bKindle\b|\bSilk/|\bPlayBook\b")),
    ("mobile", "the parser's device is a phone (iPhone, iPod, generic smartphone or feature phone)",
     lambda p: p.device_family in _PHONE_DEVICES),
    ("mobile", "a 'Mobi' token (Mobile, Opera Mobi: browsers' own phone marker) or Opera Mini",
     _matches(r"Mobi|Opera Mini")),
    ("mobile", "a phone OS family (iOS, Windows Phone, BlackBerry OS, KaiOS, Symbian, ...)",
     lambda p: p.os_family in _MOBILE_OS),
    ("tablet", "Android without a 'Mobi' token (Google's advice to tablet browsers)",
     lambda p: p.os_family == "Android"),
    ("desktop", "a desktop OS family (Windows, Mac OS X, Linux and its distributions, Chrome OS, BSD)",
     lambda p: p.os_family in _DESKTOP_OS),
)


def device_type_rule(ua: str, *, os_family: str, device_family: str, device_brand: str | None) -> int | None:
    """The index of the first of ``DEVICE_TYPE_RULES`` that holds, None if none does."""
    parsed = _Parsed(ua, os_family, device_family, device_brand)
    for index, (_kind, _why, test) in enumerate(DEVICE_TYPE_RULES):
        if test(parsed):
            return index
    return None


def device_type(ua: str, *, os_family: str, device_family: str, device_brand: str | None) -> str:
    """The device type ``DEVICE_TYPE_RULES`` give these parser results and user agent."""
    index = device_type_rule(ua, os_family=os_family, device_family=device_family, device_brand=device_brand)
    return "other" if index is None else DEVICE_TYPE_RULES[index][0]


_resolver: Callable | None = None
_resolver_name = ""
_resolver_lock = threading.Lock()


def _build_resolver() -> tuple[Callable, str]:
    from ua_parser import BasicResolver, load_builtins, load_lazy_builtins  # noqa: PLC0415 - first parse

    try:
        from ua_parser.regex import Resolver  # noqa: PLC0415 - needs ua-parser-rs
    except ImportError:
        return BasicResolver(load_builtins()), "basic"
    return Resolver(load_lazy_builtins()), "regex"


def resolver_name() -> str:
    """Which ua-parser resolver parses: "regex" (ua-parser-rs) or "basic" (pure Python)."""
    _get_resolver()
    return _resolver_name


def _get_resolver() -> Callable:
    global _resolver, _resolver_name
    if _resolver is None:
        with _resolver_lock:
            if _resolver is None:
                _resolver, _resolver_name = _build_resolver()
    return _resolver


@lru_cache(maxsize=CACHE_SIZE)
def _parse(ua: str) -> UserAgentInfo:
    from ua_parser import Domain  # noqa: PLC0415 - imported by _get_resolver already

    result = _get_resolver()(ua, Domain.ALL)
    browser, os, device = result.user_agent, result.os, result.device
    os_family = os.family if os else OTHER
    device_family = device.family if device else OTHER
    return UserAgentInfo(
        device_type=device_type(ua, os_family=os_family, device_family=device_family,
                                device_brand=device.brand if device else None),
        browser_family=browser.family if browser else OTHER,
        browser_major=browser.major if browser else None,
        os_family=os_family,
        device_family=device_family,
    )


def parse(user_agent: str | None) -> UserAgentInfo:
    """Device type and the parser's browser, OS and device families of ``user_agent``."""
    if not user_agent or user_agent.isspace():
        return UNKNOWN
    return _parse(user_agent)


def cache_info():
    """The per-agent cache's hits, misses and size (functools' CacheInfo)."""
    return _parse.cache_info()


def cache_clear() -> None:
    _parse.cache_clear()

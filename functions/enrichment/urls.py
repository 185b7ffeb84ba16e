"""Campaign parameters, click id, referrer host, landing path, and the stored form of a URL.

Stored form (``storage_url``), the one rule for page URLs and referrers alike:

- everything before the first ``?`` or ``#`` is kept exactly as sent;
- of the query, only the campaign parameters (``CAMPAIGN_PARAMETERS``) and click ids
  (``CLICK_ID_PARAMETERS``) are kept: their ``name=value`` pieces as sent (encoding untouched),
  in their order, joined by ``&``; a name counts after percent-decoding, case-sensitively
  (``utm_source``, not ``UTM_SOURCE``, as the analytics tools read them); no piece kept, no ``?``;
- the fragment (``#...``) is dropped: browsers never send it to a server, single-page apps keep
  state and sometimes tokens in it (``#access_token=``), and campaign tools ignore it too.

It is string surgery, not URL parsing, so it never raises and treats a malformed URL by the
same rule; a URL without ``?`` or ``#`` is returned as it is (the common case, one scan).

Acquisition (``acquisition``): the landing URL's campaign parameters, percent- and plus-decoded,
trimmed, the first non-empty occurrence of each, cut to ``MAX_VALUE_CHARS``; its click id type,
the first of ``CLICK_ID_PARAMETERS`` present with a value; the referrer's host; the landing path.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote, unquote_plus, urlsplit

CAMPAIGN_PARAMETERS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
#: In precedence order: the first present is the click id type. Ad networks' ids, which only an
#: ad click carries, come first, Google's before Microsoft's (GA reads gclid first; gbraid and
#: wbraid are its iOS app/web variants); fbclid is last because Facebook adds it to every
#: outbound link, paid or not, so it says least about the click.
CLICK_ID_PARAMETERS = ("gclid", "gbraid", "wbraid", "msclkid", "ttclid", "li_fat_id", "twclid", "fbclid")
KEPT_PARAMETERS = frozenset(CAMPAIGN_PARAMETERS + CLICK_ID_PARAMETERS)
#: Longest campaign value kept: one odd link must not bloat every session row.
MAX_VALUE_CHARS = 255
#: Longest host name (RFC 1035).
MAX_HOST_CHARS = 253
_HOST = re.compile(r"[\w.:-]+")  # letters (IDN too), digits, '.', '-', '_', ':' of IPv6 literals


class Acquisition(NamedTuple):
    source: str | None          # utm_source
    medium: str | None          # utm_medium
    campaign: str | None        # utm_campaign
    term: str | None            # utm_term
    content: str | None         # utm_content
    click_id_type: str | None   # one of CLICK_ID_PARAMETERS
    referrer_host: str | None   # see host()
    landing_path: str | None    # see path()


def _split(url: str) -> tuple[str, str]:
    """(everything before the first '?' or '#', the query between '?' and '#' or '')."""
    hash_at = url.find("#")
    if hash_at >= 0:
        url = url[:hash_at]
    base, _, query = url.partition("?")
    return base, query


def storage_url(url: str | None) -> str | None:
    """``url`` as the warehouse stores it: no fragment, no query but the campaign parameters."""
    if url is None or ("?" not in url and "#" not in url):
        return url
    base, query = _split(url)
    kept = [piece for piece in query.split("&") if piece and _name(piece) in KEPT_PARAMETERS]
    return f"{base}?{'&'.join(kept)}" if kept else base


def _name(piece: str) -> str:
    name = piece.partition("=")[0]
    return unquote(name, errors="replace") if "%" in name else name


def campaign_values(url: str | None) -> dict[str, str]:
    """The campaign parameters and click ids in ``url`` with a value: name -> decoded value."""
    if not url or "?" not in url:
        return {}
    values: dict[str, str] = {}
    for piece in _split(url)[1].split("&"):
        name, _, raw = piece.partition("=")
        name = unquote(name, errors="replace") if "%" in name else name
        if name not in KEPT_PARAMETERS or name in values:
            continue
        value = unquote_plus(raw, errors="replace").strip()[:MAX_VALUE_CHARS] if raw else ""
        if value:
            values[name] = value
    return values


def host(url: str | None) -> str | None:
    """The host of an absolute URL (``scheme://host...``): lower case, without ``www.``, port,
    credentials or a trailing dot; None for anything else (relative, blank, malformed)."""
    if not url or "//" not in url:
        return None
    try:
        name = urlsplit(url.strip()).hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    if not name:
        return None
    name = name.rstrip(".")
    if name.startswith("www."):
        name = name[4:]
    if not name or len(name) > MAX_HOST_CHARS or not _HOST.fullmatch(name):
        return None
    return name


def path(url: str | None) -> str | None:
    """The path of ``url`` as sent (``/`` for a bare host); None when it has none (not a URL)."""
    if not url:
        return None
    base = _split(url.strip())[0]
    scheme_end = base.find("://")
    if base.startswith("//"):
        rest = base[2:]
    elif scheme_end > 0 and "/" not in base[:scheme_end]:
        rest = base[scheme_end + 3:]
    elif base.startswith("/"):
        return base
    else:
        return None
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


def acquisition(page_url: str | None, referrer: str | None) -> Acquisition:
    """Where a page view came from: campaign parameters, click id type, referrer host, path."""
    values = campaign_values(page_url)
    click_id_type = next((name for name in CLICK_ID_PARAMETERS if name in values), None) if values else None
    return Acquisition(
        source=values.get("utm_source"),
        medium=values.get("utm_medium"),
        campaign=values.get("utm_campaign"),
        term=values.get("utm_term"),
        content=values.get("utm_content"),
        click_id_type=click_id_type,
        referrer_host=host(referrer),
        landing_path=path(page_url),
    )

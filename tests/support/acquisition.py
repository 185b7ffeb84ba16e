"""The plain-Python oracle of acquisition and audience (docs/warehouse-etl.md, "Acquisition and
audience"): each session's enrichment, channel and visitor type, and every figure of the
dashboard's acquisition functions, computed from the raw events alone.

What a user agent, a URL or a referrer *is* (device type, browser, bot, campaign parameters,
host) is the enrichment library's answer (``functions.enrichment``, tested on its own in
tests/enrichment); what this module recomputes is everything built from those answers: which
event of a session decides, GA4's source / medium and channel, visitor and client rules,
attribution, bounce, conversion, retention. GA4's definitions are written here independently of
the SQL in migration 006; the lists they use (source categories) are read from the warehouse's
tables, which are data.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from functions.enrichment import bots, urls, user_agent

# ---------------------------------------------------------------- GA4's definitions
# https://support.google.com/analytics/answer/9756891, "Channels for manual traffic", in order.

PAID = re.compile(r"^(.*cp.*|ppc|retargeting|paid.*)$")
SHOP_CAMPAIGN = re.compile(r"^(.*(([^a-df-z]|^)shop|shopping).*)$")
AD_CLICK_IDS = {"gclid", "gbraid", "wbraid", "msclkid"}
EMAIL = {"email", "e-mail", "e_mail", "e mail"}
SOCIAL_MEDIUMS = {"social", "social-network", "social-media", "sm", "social network", "social media"}
#: referrer hosts GA reports as <engine>/organic (the ones the tests use)
ENGINE_HOSTS = {"google.com": "google", "google.co.uk": "google", "google.com.au": "google",
                "bing.com": "bing", "duckduckgo.com": "duckduckgo", "search.yahoo.com": "yahoo",
                "uk.search.yahoo.com": "yahoo", "yandex.ru": "yandex", "baidu.com": "baidu",
                "ecosia.org": "ecosia.org"}
PAYMENT_GATEWAYS = {"paypal.com", "stripe.com", "adyen.com", "klarna.com"}
LOOKBACK = timedelta(days=30)


def excluded(host: str | None, own_hosts: set[str], gateways=PAYMENT_GATEWAYS) -> bool:
    """An own host or payment gateway, or a subdomain of one."""
    return bool(host) and any(host == e or host.endswith("." + e) for e in set(own_hosts) | set(gateways))


def ga4_source_medium(utm_source, utm_medium, utm_campaign, click_id_type, referrer_host,  # noqa: PLR0917
                      own_hosts: set[str] = frozenset(), gateways=PAYMENT_GATEWAYS):
    if utm_source or utm_medium or utm_campaign:
        return utm_source or "(not set)", utm_medium or "(not set)"
    if click_id_type in ("gclid", "gbraid", "wbraid"):
        return "google", "cpc"
    if click_id_type == "msclkid":
        return "bing", "cpc"
    host = referrer_host
    if not host or excluded(host, own_hosts, gateways):
        return "(direct)", "(none)"
    if host in ENGINE_HOSTS:
        return ENGINE_HOSTS[host], "organic"
    return host, "referral"


def ga4_channel(source, medium, campaign, click_id_type, category_of) -> str:  # noqa: PLR0911, PLR0912
    s = (source or "").lower()
    m = (medium or "").lower()
    c = (campaign or "").lower()
    cat = category_of.get(s)
    paid = medium is not None and PAID.search(m) is not None
    shop_campaign = campaign is not None and SHOP_CAMPAIGN.search(c) is not None
    if s == "(direct)" and m in ("(not set)", "(none)"):
        return "Direct"
    if "cross-network" in c:
        return "Cross-network"
    if (cat == "SHOPPING" or shop_campaign) and paid:
        return "Paid Shopping"
    if (cat == "SEARCH" and paid) or click_id_type in AD_CLICK_IDS:
        return "Paid Search"
    if cat == "SOCIAL" and paid:
        return "Paid Social"
    if cat == "VIDEO" and paid:
        return "Paid Video"
    if m in ("display", "banner", "expandable", "interstitial", "cpm"):
        return "Display"
    if paid:
        return "Paid Other"
    if cat == "SHOPPING" or shop_campaign:
        return "Organic Shopping"
    if cat == "SOCIAL" or m in SOCIAL_MEDIUMS:
        return "Organic Social"
    if cat == "VIDEO" or "video" in m:
        return "Organic Video"
    if cat == "SEARCH" or m == "organic":
        return "Organic Search"
    if m in ("referral", "app", "link"):
        return "Referral"
    if s in EMAIL or m in EMAIL:
        return "Email"
    if m == "affiliate":
        return "Affiliates"
    if m == "audio":
        return "Audio"
    if s == "sms" or m == "sms":
        return "SMS"
    if m.endswith("push") or "mobile" in m or "notification" in m or s == "firebase":
        return "Mobile Push Notifications"
    return "Unassigned"


# ---------------------------------------------------------------- events and sessions

def _ts(value) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _dec(v) -> Decimal:
    return Decimal(repr(v)) if v is not None else Decimal(0)


def event_time(r: dict) -> datetime:
    """An event's time (its event_timestamp: RFC 3339 text or epoch milliseconds), in UTC."""
    return _ts(r["event_timestamp"])


def raw_records(lines) -> list[dict]:
    """The events of raw lines (bytes) as plain JSON reads them, in order: a line that is not
    UTF-8 JSON of an object is no event (the ETL rejects it)."""
    out = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def unique_events(records: list[dict]) -> dict[str, dict]:
    """event id (lowercase) -> its event: the first copy of each event id counts, later ones are
    duplicates (docs/warehouse-etl.md, "Deduplication")."""
    events: dict[str, dict] = {}
    for r in records:
        events.setdefault(r["event_id"].lower(), r)
    return events


def event_bot_reason(r: dict) -> str | None:
    ua = r.get("user_agent")
    return bots.bot_reason(ua, ingest_flagged=r.get("is_bot") is True,
                           device_family=user_agent.parse(ua).device_family)


def event_is_bot(r: dict) -> bool:
    """Ingest flagged it, or the maintained list matches its agent."""
    return r.get("is_bot") is True or event_bot_reason(r) is not None


FUNNEL_STEPS = ("page_view", "product_view", "add_to_cart", "begin_checkout", "purchase")


@dataclass
class Session:
    session_id: str
    client_id: str
    started_at: datetime
    ended_at: datetime
    events: int
    orders: int
    revenue: Decimal
    purchased: bool
    is_bot: bool
    bot_reason: str | None
    device_type: str
    browser_family: str
    browser_major: str | None
    os_family: str
    country: str | None
    landing_path: str | None
    landing_url: str | None
    utm_source: str | None
    utm_medium: str | None
    campaign: str | None
    term: str | None
    content: str | None
    click_id_type: str | None
    referrer_host: str | None
    logged_in: bool
    user_id: str | None          # the last non-null user_id of its events
    user_ids: list[str]
    steps: list[str]
    step_count: int
    purchases: list[tuple[datetime, str, Decimal]]   # (event time, event id, revenue)
    duration_s: Decimal
    page_views: int
    product_views: int
    entry_page: str | None       # the first and last page.path
    exit_page: str | None
    landing_referrer: str | None  # the first page.referrer
    is_first_visit: bool
    reached_product: bool
    reached_cart: bool
    reached_checkout: bool
    source: str = ""
    medium: str = ""
    channel: str = ""
    is_returning: bool = False

    @property
    def day(self) -> date:
        return self.started_at.date()

    @property
    def funnel(self) -> dict[str, bool]:
        """Which steps of the funnel the session reached, in any order (docs/warehouse-etl.md,
        agg_funnel_daily): a page view, a product view, an add to cart, a checkout, a purchase."""
        return dict(zip(FUNNEL_STEPS, (self.page_views > 0, self.reached_product, self.reached_cart,
                                       self.reached_checkout, self.purchased), strict=True))


def build_sessions(records: list[dict], category_of: dict[str, str], *, max_steps: int = 12,
                   country_of=lambda _address: None) -> dict[str, Session]:
    """Every session of the (valid) raw records with its acquisition and audience columns."""
    by_session: dict[str, list] = defaultdict(list)
    for eid, r in unique_events(records).items():
        by_session[r["session_id"]].append((_ts(r["event_timestamp"]), eid, r))
    sessions: dict[str, Session] = {}
    for sid, evs in by_session.items():
        evs.sort(key=lambda t: (t[0], t[1]))
        first = evs[0][2]
        landing = next((r for _, _, r in evs if (r.get("page") or {}).get("path")), None)
        page = (landing or {}).get("page") or {}
        values = urls.campaign_values(page.get("url"))
        ua = user_agent.parse(first.get("user_agent"))
        reasons = [reason for _, _, r in evs if (reason := event_bot_reason(r))]
        collapsed = [r["event_name"] for i, (_, _, r) in enumerate(evs)
                     if i == 0 or r["event_name"] != evs[i - 1][2]["event_name"]]
        purchases = [(at, eid, _dec((r.get("context") or {}).get("order", {}).get("revenue")))
                     for at, eid, r in evs if r["event_name"] == "purchase"]
        names = [r["event_name"] for _, _, r in evs]
        paths = [path for _, _, r in evs if (path := (r.get("page") or {}).get("path"))]
        referrers = [ref for _, _, r in evs if (ref := (r.get("page") or {}).get("referrer"))]
        duration = evs[-1][0] - evs[0][0]
        sessions[sid] = Session(
            session_id=sid, client_id=first["client_id"], started_at=evs[0][0], ended_at=evs[-1][0],
            events=len(evs),
            orders=len(purchases), revenue=sum((p[2] for p in purchases), Decimal(0)),
            purchased=bool(purchases), is_bot=any(event_is_bot(r) for _, _, r in evs),
            bot_reason=reasons[0] if reasons else None,
            device_type=ua.device_type, browser_family=ua.browser_family, browser_major=ua.browser_major,
            os_family=ua.os_family, country=country_of(first.get("source_ip")),
            landing_path=page.get("path"), landing_url=page.get("url"),
            utm_source=values.get("utm_source"), utm_medium=values.get("utm_medium"),
            campaign=values.get("utm_campaign"), term=values.get("utm_term"),
            content=values.get("utm_content"),
            click_id_type=next((n for n in urls.CLICK_ID_PARAMETERS if n in values), None),
            referrer_host=urls.host(page.get("referrer")),
            logged_in=any(r.get("user_login_state") == "logged_in" for _, _, r in evs),
            user_id=next((r["user_id"] for _, _, r in reversed(evs) if r.get("user_id")), None),
            user_ids=sorted({r["user_id"] for _, _, r in evs if r.get("user_id")}),
            steps=collapsed[:max_steps], step_count=len(collapsed), purchases=purchases,
            duration_s=Decimal(duration.days * 86400 + duration.seconds)
            + Decimal(duration.microseconds) / 10**6,
            page_views=names.count("page_view"), product_views=names.count("product_view"),
            entry_page=paths[0] if paths else None, exit_page=paths[-1] if paths else None,
            landing_referrer=referrers[0] if referrers else None,
            is_first_visit=any(r.get("is_first_visit", False) for _, _, r in evs),
            reached_product="product_view" in names, reached_cart="add_to_cart" in names,
            reached_checkout="begin_checkout" in names,
        )
    own_hosts = {h for s in sessions.values() if (h := urls.host(s.landing_url))}
    for s in sessions.values():
        s.source, s.medium = ga4_source_medium(s.utm_source, s.utm_medium, s.campaign, s.click_id_type,
                                               s.referrer_host, own_hosts)
        s.channel = ga4_channel(s.source, s.medium, s.campaign, s.click_id_type, category_of)
    firsts = first_sessions(sessions)
    for s in sessions.values():
        first_non_bot = firsts.get(s.client_id)
        s.is_returning = first_non_bot is not None and (s.started_at, s.session_id) > first_non_bot
    return sessions


def first_sessions(sessions: dict[str, Session]) -> dict[str, tuple[datetime, str]]:
    """Each client's first non-bot session: (started_at, session_id)."""
    firsts: dict[str, tuple[datetime, str]] = {}
    for s in sessions.values():
        if not s.is_bot:
            mark = (s.started_at, s.session_id)
            if s.client_id not in firsts or mark < firsts[s.client_id]:
                firsts[s.client_id] = mark
    return firsts


def client_users(sessions: dict[str, Session]) -> dict[tuple[str, str], tuple[datetime, datetime]]:
    """(client, signed-in user) -> (start of the first, end of the last session the user was in)."""
    seen: dict[tuple[str, str], tuple[datetime, datetime]] = {}
    for s in sessions.values():
        for user in s.user_ids:
            first, last = seen.get((s.client_id, user), (s.started_at, s.ended_at))
            seen[(s.client_id, user)] = (min(first, s.started_at), max(last, s.ended_at))
    return seen


# ---------------------------------------------------------------- the dashboard's figures

def in_range(sessions: dict[str, Session], p_from: date, p_to: date,
             segment: dict | None = None) -> list[Session]:
    """The non-bot sessions that started in [p_from, p_to] (a session belongs to its start day);
    of a segment (the page filters: {column: value}, None for every value) if one is given."""
    return [s for s in sessions.values() if not s.is_bot and p_from <= s.day <= p_to
            and all(getattr(s, k) == v for k, v in (segment or {}).items() if v is not None)]


def _rate(part: int, whole: int) -> Decimal | None:
    return Decimal(part) / Decimal(whole) if whole else None


def visitors(sessions, p_from: date, p_to: date) -> tuple:
    picked = in_range(sessions, p_from, p_to)
    clients = {s.client_id for s in picked}
    new = {c for c, (at, _sid) in first_sessions(sessions).items() if p_from <= at.date() <= p_to}
    users = {u for s in picked for u in s.user_ids}
    return (len(clients), len(new), len(clients) - len(new), len(users), False, Decimal(0))


def attributed_purchases(sessions, p_from: date, p_to: date) -> list[tuple]:
    """(event id, revenue, session channel, first-touch channel, last non-direct touch channel)."""
    by_client: dict[str, list[Session]] = defaultdict(list)
    for s in sessions.values():
        if not s.is_bot:
            by_client[s.client_id].append(s)
    out = []
    for s in sessions.values():
        if s.is_bot:
            continue
        for at, eid, revenue in s.purchases:
            if not p_from <= at.date() <= p_to:
                continue
            candidates = sorted((c for c in by_client[s.client_id]
                                 if c.started_at >= at - LOOKBACK
                                 and (c.started_at, c.session_id) <= (s.started_at, s.session_id)),
                                key=lambda c: (c.started_at, c.session_id))
            first = candidates[0].channel if candidates else s.channel
            non_direct = [c for c in candidates if c.channel != "Direct"]
            last = non_direct[-1].channel if non_direct else "Direct"
            out.append((eid, revenue, s.channel, first, last))
    return out


def channels(sessions, p_from: date, p_to: date) -> list[tuple]:
    rows: dict[str, dict] = defaultdict(lambda: {"sessions": 0, "clients": set(), "bounces": 0, "orders": 0,
                                                 "revenue": Decimal(0), "converted": 0, "ft": [0, Decimal(0)],
                                                 "lt": [0, Decimal(0)]})
    for s in in_range(sessions, p_from, p_to):
        row = rows[s.channel]
        row["sessions"] += 1
        row["clients"].add(s.client_id)
        row["bounces"] += s.events == 1
        row["orders"] += s.orders
        row["revenue"] += s.revenue
        row["converted"] += s.purchased
    for _eid, revenue, _own, first, last in attributed_purchases(sessions, p_from, p_to):
        for key, channel in (("ft", first), ("lt", last)):
            rows[channel][key][0] += 1
            rows[channel][key][1] += revenue
    out = [(channel, r["sessions"], len(r["clients"]), _rate(r["bounces"], r["sessions"]), r["orders"],
            r["revenue"], _rate(r["converted"], r["sessions"]), r["ft"][0], r["ft"][1],
            r["lt"][0], r["lt"][1])
           for channel, r in rows.items()]
    return sorted(out, key=lambda row: (-row[1], row[0]))


def _group(picked: list[Session], key) -> dict:
    groups: dict = defaultdict(list)
    for s in picked:
        groups[key(s)].append(s)
    return groups


def sources(sessions, p_from: date, p_to: date, p_channel: str | None = None,
            p_limit: int = 25) -> list[tuple]:
    picked = [s for s in in_range(sessions, p_from, p_to) if p_channel is None or s.channel == p_channel]
    groups = _group(picked, lambda s: (s.channel, s.source, s.medium, s.campaign or "(not set)"))
    out = [(*k, len(g), len({s.client_id for s in g}), sum(s.orders for s in g),
            sum((s.revenue for s in g), Decimal(0)), _rate(sum(s.purchased for s in g), len(g)))
           for k, g in groups.items()]
    return sorted(out, key=lambda row: (-row[4], *row[:4]))[:p_limit]


def referrers(sessions, p_from: date, p_to: date, own_hosts: set[str], p_limit: int = 25) -> list[tuple]:
    picked = [s for s in in_range(sessions, p_from, p_to)
              if s.referrer_host and not excluded(s.referrer_host, own_hosts)]
    out = []
    for host, g in _group(picked, lambda s: s.referrer_host).items():
        counts = _group(g, lambda s: s.channel)
        channel = sorted(counts, key=lambda c: (-len(counts[c]), c))[0]
        out.append((host, channel, len(g), sum(s.orders for s in g), sum((s.revenue for s in g), Decimal(0))))
    return sorted(out, key=lambda row: (-row[2], row[0]))[:p_limit]


AUDIENCE = {
    "device_type": lambda s: s.device_type,
    "browser": lambda s: s.browser_family,
    "os": lambda s: s.os_family,
    "country": lambda s: s.country,
    "visitor_type": lambda s: "returning" if s.is_returning else "new",
    "login_state": lambda s: "signed_in" if s.logged_in else "guest",
}


def audience(sessions, p_from: date, p_to: date, dimension: str, segment: dict | None = None) -> list[tuple]:
    """dashboard.audience: (value, sessions, visitors, orders, revenue, conversion) per value of the
    dimension, most sessions first, of the segment's sessions if one is given."""
    groups = _group(in_range(sessions, p_from, p_to, segment), AUDIENCE[dimension])
    out = [(value, len(g), len({s.client_id for s in g}), sum(s.orders for s in g),
            sum((s.revenue for s in g), Decimal(0)), _rate(sum(s.purchased for s in g), len(g)))
           for value, g in groups.items()]
    return sorted(out, key=lambda row: (-row[1], row[0] is None, row[0] or ""))


def _week(day: date) -> date:
    return day - timedelta(days=day.weekday())


def retention_weekly(sessions, p_from: date, p_to: date, p_weeks: int = 8) -> list[tuple]:
    cohorts: dict[date, set[str]] = defaultdict(set)
    for client, (at, _sid) in first_sessions(sessions).items():
        week = _week(at.date())
        if p_from <= week <= p_to:
            cohorts[week].add(client)
    active_weeks: dict[str, set[date]] = defaultdict(set)
    for s in sessions.values():
        if not s.is_bot:
            active_weeks[s.client_id].add(_week(s.day))
    out = []
    for week in sorted(cohorts):
        members = cohorts[week]
        for offset in range(p_weeks + 1):
            target = week + timedelta(days=7 * offset)
            if target + timedelta(days=6) > p_to:
                break
            active = sum(target in active_weeks[c] for c in members)
            out.append((week, len(members), offset, active, Decimal(active) / Decimal(len(members))))
    return out
